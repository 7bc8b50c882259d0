"""Pilot tests of the Lab 1 screen against the moto sandbox."""

from __future__ import annotations

import pytest
from conftest import wait_until
from textual.widgets import Input, Static

from dlworkshop.aws import stack as ops
from dlworkshop.tui.app import WorkshopApp
from dlworkshop.tui.screens.confirm import Confirm
from dlworkshop.tui.screens.lab1 import Lab1View
from dlworkshop.tui.widgets.checkpoints import FAILED, PASSED, PENDING, RUNNING
from dlworkshop.tui.widgets.resources import ResourceTree

pytestmark = pytest.mark.slow  # real servers, engines or terminals

SIZE = (120, 40)


async def open_lab1(pilot, app: WorkshopApp, stack: str) -> Lab1View:
    await wait_until(pilot, lambda: app.target is not None)
    await pilot.press("2")
    view = app.view("lab1")
    await wait_until(pilot, lambda: bool(view.query_one("#l1-cidr", Input).value))
    view.query_one("#l1-stack", Input).value = stack
    return view


def settled(view: Lab1View) -> bool:
    rows = [view.checkpoint_list.row(c) for c in ("lab1.stack", "lab1.instances")]
    return all(r.status not in (PENDING, RUNNING) for r in rows)


async def test_the_form_deploys_and_both_checkpoints_pass(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_lab1(pilot, app, "pilot")
        assert view.query_one("#l1-cidr", Input).value == "127.0.0.1/32"
        # The keyboard, not a click: the form scrolls, and the note under the CIDR arrives
        # with the defaults, so a click's position can be stale by the time it lands.
        view.query_one("#l1-deploy").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: settled(view), timeout=60)
        stack_row = view.checkpoint_list.row("lab1.stack")
        assert stack_row.status == PASSED, stack_row.reason
        instances = view.checkpoint_list.row("lab1.instances")
        assert instances.status == PASSED and "2 registered" in instances.reason
        rows = view.query_one(ResourceTree).rows()
        assert {"Vpc", "Cluster", "AutoScalingGroup"} <= {r.logical_id for r in rows}
        assert all(r.status.endswith("COMPLETE") for r in rows)
        assert {"ClusterName", "RepositoryUri", "TaskRoleArn"} <= set(view.outputs)
        shown_outputs = str(view.query_one("#l1-outputs", Static).render())
        assert view.outputs["RepositoryUri"] in shown_outputs  # whole, on a line of its own
        assert "2/2" in str(app.query_one("#nav-lab1").render())

        # Deploying again offers update or reuse; reuse keeps it as it is.
        view.query_one("#l1-deploy").focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "already exists" in app.screen.question
        await pilot.press("n")  # Reuse
        await wait_until(pilot, lambda: not app.busy(), timeout=60)
        assert view.checkpoint_list.row("lab1.stack").status == PASSED
        assert ops.describe(app.ctx, "pilot")["StackStatus"] == "CREATE_COMPLETE"


async def test_a_refused_deploy_shows_why_and_the_app_stays_usable(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_lab1(pilot, app, "refused")
        view.query_one("#l1-type", Input).value = "x9.mega"
        view.start_deploy()
        failure = view.query_one("#l1-failure", Static)
        await wait_until(pilot, lambda: failure.display)
        assert "'InstanceType' must be one of AllowedValues" in str(failure.render())
        assert ops.describe(app.ctx, "refused") is None
        await wait_until(pilot, lambda: settled(view))
        assert view.checkpoint_list.row("lab1.stack").status == FAILED
        await pilot.press("escape")
        app.query_one("#nav").focus()
        await pilot.press("n")
        assert app.query_one("ContentSwitcher").current == "lab-lab2"


async def test_a_failed_stack_is_deleted_and_retried(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_lab1(pilot, app, "retry")
        # A repository left over from an earlier workshop: ECR refuses to create it again.
        app.ctx.client("ecr").create_repository(repositoryName="retry-mxnet")
        view.start_deploy()
        failure = view.query_one("#l1-failure", Static)
        await wait_until(pilot, lambda: failure.display, timeout=30)
        assert "already exists" in str(failure.render())
        await wait_until(pilot, lambda: settled(view))
        app.ctx.client("ecr").delete_repository(repositoryName="retry-mxnet")
        view.start_deploy()
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), timeout=30)
        assert "Delete it and deploy again?" in app.screen.question
        await pilot.press("y")
        await wait_until(pilot, lambda: view.checkpoint_list.row("lab1.instances").status
                         == PASSED, timeout=60)  # fmt: skip
        assert ops.describe(app.ctx, "retry")["StackStatus"] == "CREATE_COMPLETE"


async def test_deploy_from_the_palette_on_another_lab_waits_for_the_form(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.target is not None)
        assert app.query_one("ContentSwitcher").current == "lab-overview"
        # Straight from the Overview, before Lab 1's form has looked up the defaults.
        [deploy] = [c for c in app.get_system_commands(app.screen)
                    if c.title == "Lab 1: deploy the stack"]  # fmt: skip
        deploy.callback()
        assert app.query_one("ContentSwitcher").current == "lab-lab1"
        view = app.view("lab1")
        await wait_until(pilot, lambda: view.checkpoint_list.row("lab1.stack").status == PASSED
                         or view.query_one("#l1-failure").display, timeout=60)  # fmt: skip
        assert not view.query_one("#l1-failure").display, view.query_one("#l1-failure").render()
        assert view.query_one("#l1-cidr", Input).value == "127.0.0.1/32"


async def test_an_open_source_cidr_asks_first_and_a_bad_one_is_named(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_lab1(pilot, app, "opened")
        cidr = view.query_one("#l1-cidr", Input)
        cidr.value = "999.1.2.3/32"
        await pilot.pause()
        assert "not an IPv4 CIDR block" in str(view.query_one("#l1-cidr-note", Static).render())
        cidr.value = "0.0.0.0/0"
        view.start_deploy()
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), timeout=30)
        assert "whole internet" in app.screen.question
        await pilot.press("n")
        failure = view.query_one("#l1-failure", Static)
        await wait_until(pilot, lambda: failure.display)
        assert "Not deployed" in str(failure.render())
        assert ops.describe(app.ctx, "opened") is None
        assert "opened-key" not in {k["KeyName"] for k in app.ctx.client(
            "ec2").describe_key_pairs()["KeyPairs"]}  # fmt: skip
