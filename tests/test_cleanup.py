"""Cleanup against the sandbox: a dry run changes nothing, a cleanup leaves nothing (and
can run again), a kept key is kept, and whatever is left is named with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import deploy_stack
from helpers import json_lines, run_cli

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.aws import cleanup
from dlworkshop.aws.stack import TAG, describe
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target

pytestmark = pytest.mark.slow  # a real sandbox, real stacks
NAMES = iter(range(1, 100))


def context(sandbox: dict) -> Context:
    return Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)


def deployed(sandbox: dict) -> Context:
    deploy_stack(f"clean-{next(NAMES)}")
    return context(sandbox)


def run(ctx: Context, **options) -> list:
    return list(cleanup.run(ctx, lambda *a: True, remove_images=False, **options))


def test_stack_tags_reach_what_cloudformation_tags_on_aws(sandbox: dict) -> None:
    ctx = deployed(sandbox)
    stack = ctx.state.stack_name
    arns = cleanup._tagged(ctx, stack)
    kinds = {cleanup._kind(a) for a in arns}
    # moto tags only EC2 resources; the sandbox tags the rest as CloudFormation does.
    assert {"ecs:cluster", "logs:log-group", "ec2:instance", "ec2:vpc"} <= kinds, kinds
    assert sum(a.startswith("arn:aws:s3:::") for a in arns) == 2, arns
    tags = ctx.client("s3").get_bucket_tagging(Bucket=cleanup.find(ctx).buckets[0])["TagSet"]
    assert {"Key": TAG, "Value": stack} in tags
    list(cleanup.run(ctx, lambda *a: True, remove_images=False))


def test_dry_run_changes_nothing_then_cleanup_leaves_nothing_and_runs_again(
    sandbox: dict,
) -> None:
    ctx = deployed(sandbox)
    stack, found = ctx.state.stack_name, cleanup.find(ctx)
    s3 = ctx.client("s3")
    for n in range(3):
        s3.put_object(Bucket=found.buckets[0], Key=f"photos/{n}.jpg", Body=b"x" * 10)
    key_file = Path(ctx.state.key_path or "")
    assert ctx.state.key_created and key_file.exists()

    events = run(ctx, dry_run=True)
    would = {(e.kind, e.outcome) for e in events if isinstance(e, cleanup.CleanupStep)}
    assert {("stack", "would delete"), ("S3 objects", "would delete"),
            ("key pair", "would delete")} <= would  # fmt: skip
    assert isinstance(events[-1], cleanup.CleanupSummary) and events[-1].dry_run
    assert describe(ctx, stack) is not None and key_file.exists()
    assert len(s3.list_objects_v2(Bucket=found.buckets[0])["Contents"]) == 3
    assert {x.kind for x in cleanup.leftovers(ctx)} >= {"stack", "key pair", "log group"}

    events = run(ctx)
    summary = events[-1]
    assert isinstance(summary, cleanup.CleanupSummary), events
    assert summary.leftover == [], summary
    assert not [e for e in events if e.type == "failed"], events
    done = {(s["kind"], s["outcome"]) for s in summary.deleted}
    assert {("stack", "deleted"), ("S3 objects", "emptied"), ("key pair", "deleted")} <= done
    assert describe(ctx, stack) is None and not key_file.exists()
    assert not ctx.client("ec2").describe_key_pairs(
        Filters=[{"Name": "key-name", "Values": [f"{stack}-key"]}])["KeyPairs"]
    saved = state_store.load().state
    assert saved.results(SANDBOX)["cleanup.empty"]["status"] == "passed"
    assert saved.spend[stack]["deleted"] is not None and summary.cost is not None

    # Run again: nothing to do, nothing fails, still nothing left.
    again = run(ctx)
    assert again[-1].leftover == [] and not [e for e in again if e.type == "failed"]
    assert not [e for e in again if isinstance(e, cleanup.CleanupStep)
                and e.outcome == "deleted"]  # fmt: skip


def test_a_kept_key_is_kept_and_is_not_a_leftover(sandbox: dict) -> None:
    ctx = deployed(sandbox)
    key = ctx.state.key_name
    events = run(ctx, keep_key=True)
    steps = [e for e in events if isinstance(e, cleanup.CleanupStep) and e.kind == "key pair"]
    assert [s.outcome for s in steps] == ["kept"]
    assert events[-1].leftover == []
    assert ctx.client("ec2").describe_key_pairs(KeyNames=[key])["KeyPairs"]
    # Without --keep-key the verification names it.
    left = cleanup.leftovers(ctx)
    assert [x.kind for x in left] == ["key pair"] and "EC2 console" in left[0].fix
    run(ctx)


def test_what_is_left_is_named_with_what_to_do(sandbox: dict) -> None:
    ctx = deployed(sandbox)
    run(ctx)
    stack = ctx.state.stack_name
    # Something the workshop's families own, made after the cleanup (another terminal).
    ctx.client("ecs").register_task_definition(
        family=f"{stack}-serve", containerDefinitions=[{"name": "x", "image": "x",
                                                        "memory": 64}])  # fmt: skip
    ctx.client("logs").create_log_group(logGroupName=f"/dlworkshop/{stack}")
    left = cleanup.leftovers(ctx)
    assert {x.kind for x in left} == {"task definition", "log group"}, left
    assert all(x.fix for x in left)
    result = checkpoints.run(checkpoints.get("cleanup.empty"), ctx)
    assert not result.passed and "2 left" in result.reason
    run(ctx)
    assert cleanup.leftovers(ctx) == []


def test_the_cli_asks_first_and_a_dry_run_needs_no_answer(sandbox: dict) -> None:
    deploy_stack(f"clean-{next(NAMES)}")
    out = run_cli("--sandbox", "--json", "cleanup", timeout=120)
    assert out.returncode == 1
    assert json_lines(out.stdout)[-1]["message"] == "Nothing was deleted."
    out = run_cli("--sandbox", "--json", "cleanup", "--dry-run", timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    last = json_lines(out.stdout)[-1]
    assert last["type"] == "cleanup_summary" and last["dry_run"] and last["deleted"]
    out = run_cli("--sandbox", "--json", "cleanup", "--yes", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json_lines(out.stdout)[-1]["leftover"] == []


async def test_the_cleanup_screen_cleans_up_with_the_keyboard(sandbox: dict) -> None:
    from conftest import wait_until
    from textual.widgets import Static

    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.checkpoints import CheckpointRow

    ctx = deployed(sandbox)
    stack = ctx.state.stack_name
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.ctx is not None)
        await pilot.press("6")
        await pilot.press("w")  # a dry run first: nothing changes
        summary = app.query_one("#cu-summary", Static)
        await wait_until(pilot, lambda: "would be deleted" in str(summary.render()))
        assert describe(ctx, stack) is not None
        await pilot.press("c")
        await wait_until(pilot, lambda: app.screen is not app.screen_stack[0])
        # One question names everything, the key pair dlworkshop made included.
        assert "key pair" in str(app.screen.query_one("#confirm-question", Static).render())
        await pilot.press("y")  # the dialog: y deletes, n keeps
        await wait_until(pilot, lambda: "Nothing is left" in str(summary.render()), 90)
        row = app.query_one("#cp-cleanup-empty", CheckpointRow)
        await wait_until(pilot, lambda: row.status == "passed")
        assert describe(ctx, stack) is None
