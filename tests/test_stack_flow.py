"""Lab 1 against the moto server, through the real CLI: deploy, check, update, fail, delete."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from helpers import json_lines, run_cli

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.aws import stack as ops
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target

pytestmark = pytest.mark.slow  # real servers, engines or terminals


def context(sandbox: dict, region: str = "us-east-1") -> Context:
    return Context(Target(SANDBOX, region, endpoint=sandbox["endpoint"]),
                   state_store.load().state)  # fmt: skip


def events_of(*args: str) -> tuple[int, list[dict], str]:
    out = run_cli("--sandbox", "--json", "stack", *args)
    return out.returncode, json_lines(out.stdout), out.stdout + out.stderr


def test_deploy_checks_update_and_delete(sandbox: dict, home: Path) -> None:
    rc, events, text = events_of("deploy", "--stack", "flow")
    assert rc == 0, text
    kinds = [e["type"] for e in events]
    done = next(e for e in events if e["type"] == "stack_done")
    assert done["status"] == "CREATE_COMPLETE"
    assert done["outputs"]["ClusterName"] == "flow-cluster"
    assert done["outputs"]["RepositoryUri"].endswith("/flow-mxnet")
    instances = events[-1]
    assert instances["type"] == "container_instances"
    assert instances["expected"] == 2 and len(instances["instances"]) == 2
    assert all(i["status"] == "ACTIVE" for i in instances["instances"])
    # Per-resource rows (moto records none itself), and the types moto skips are named.
    rows = [e for e in events if e["type"] == "resource_event"]
    assert {"Vpc", "InstanceSecurityGroup", "Cluster", "AutoScalingGroup"} <= {
        r["logical_id"] for r in rows}  # fmt: skip
    assert not [r for r in rows if not r["logical_id"]]
    # The sandbox says on the resource's own row what it did not model.
    assert any("does not model" in r["reason"] and r["resource_type"] == "AWS::S3::BucketPolicy"
               for r in rows)  # fmt: skip
    assert kinds.index("stack_plan") < kinds.index("stack_done")

    # The private key: saved 0600 under the app's folder, never printed.
    key = next(e for e in events if e["type"] == "key_pair_ready")
    assert key["created"] and Path(key["path"]).parent == home / "keys"
    assert stat.S_IMODE(Path(key["path"]).stat().st_mode) == 0o600
    assert "PRIVATE KEY" in Path(key["path"]).read_text() and "PRIVATE KEY" not in text

    # Both Lab 1 checkpoints pass for real.
    ctx = context(sandbox)
    ctx.state.stack_name = "flow"
    for cp_id in ("lab1.stack", "lab1.instances"):
        result = checkpoints.run(checkpoints.get(cp_id), ctx)
        assert result.passed, result.reason

    # Deploying again reuses it; --update shows a change set, then applies it.
    rc, events, _ = events_of("deploy", "--stack", "flow")
    assert rc == 0 and events[[e["type"] for e in events].index("stack_plan")]["action"] == "reuse"
    rc, events, text = events_of("deploy", "--stack", "flow", "--update", "--yes",
                                 "--param", "InstanceType=c5.large")  # fmt: skip
    assert rc == 0, text
    assert any(e["type"] == "change_set" for e in events)
    assert next(e for e in events if e["type"] == "stack_done")["status"] == "UPDATE_COMPLETE"
    described = ops.describe(ctx, "flow")
    assert ops.parameters_of(described)["InstanceType"] == "c5.large"

    # Delete asks first, then leaves nothing behind.
    rc, events, _ = events_of("delete", "--stack", "flow")
    assert rc == 1 and "--yes" in events[-1]["hint"]
    vpc = ops.outputs(described)["SecurityGroupId"]
    rc, events, text = events_of("delete", "--stack", "flow", "--yes")
    assert rc == 0, text
    assert events[-1]["type"] == "stack_deleted"
    assert ops.describe(ctx, "flow") is None
    ecs = ctx.client("ecs")
    assert not [c for c in ecs.describe_clusters(clusters=["flow-cluster"])["clusters"]
                if c["status"] == "ACTIVE"]  # fmt: skip
    assert vpc not in {g["GroupId"] for g in ctx.client("ec2").describe_security_groups()[
        "SecurityGroups"]}  # fmt: skip


def test_refused_parameters_create_nothing(sandbox: dict) -> None:
    rc, events, _ = events_of("deploy", "--stack", "refused", "--param", "InstanceType=x9.mega")
    assert rc == 1
    failed = events[-1]
    assert failed["type"] == "failed" and "'InstanceType' must be one of" in failed["message"]
    assert ops.describe(context(sandbox), "refused") is None


def test_a_failed_create_is_explained_then_replaced(sandbox: dict) -> None:
    # A repository left over from an earlier workshop: ECR refuses to create it again.
    ecr = context(sandbox).client("ecr")
    ecr.create_repository(repositoryName="broken-mxnet")
    rc, events, _ = events_of("deploy", "--stack", "broken")
    assert rc == 1
    assert "already exists" in events[-1]["message"]
    assert "Delete it and deploy again" in events[-1]["hint"]
    ecr.delete_repository(repositoryName="broken-mxnet")
    # Deploying again says what to do instead of piling on.
    rc, events, _ = events_of("deploy", "--stack", "broken")
    assert rc == 1 and "--replace" in events[-1]["hint"]
    rc, events, text = events_of("deploy", "--stack", "broken", "--replace")
    assert rc == 0, text
    assert next(e for e in events if e["type"] == "stack_done")["status"] == "CREATE_COMPLETE"
    rc, _, text = events_of("delete", "--stack", "broken", "--yes")
    assert rc == 0, text


def test_an_impossible_or_open_source_cidr_is_refused_before_anything_is_made(
    sandbox: dict,
) -> None:
    rc, events, _ = events_of("deploy", "--stack", "cidr", "--param",
                              "SourceCidr=999.999.999.999/32")  # fmt: skip
    assert rc == 1 and "not an IPv4 CIDR block" in events[-1]["message"]
    # A /0 is refused unless confirmed (no terminal here, no --yes).
    rc, events, _ = events_of("deploy", "--stack", "cidr", "--param", "SourceCidr=0.0.0.0/0")
    assert rc == 1 and "whole internet" in events[-1]["message"]
    assert "--yes" in events[-1]["hint"]
    ctx = context(sandbox)
    assert ops.describe(ctx, "cidr") is None
    assert "cidr-key" not in {k["KeyName"] for k in ctx.client("ec2").describe_key_pairs()[
        "KeyPairs"]}  # fmt: skip


def test_a_wrong_region_gets_a_clear_message(sandbox: dict) -> None:
    out = run_cli("--sandbox", "--region", "mars-east-1", "stack", "deploy", "--stack", "x")
    assert out.returncode == 1
    assert "mars-east-1 is not a region this account can use" in out.stdout


def test_large_templates_go_through_s3(sandbox: dict) -> None:
    ctx = context(sandbox)
    from dlworkshop.cfn import template

    small = "Resources:\n  Notes:\n    Type: AWS::S3::Bucket\n"
    big = small + "# " + "x" * template.MAX_BODY + "\n"
    assert set(ops._template_argument(ctx, "small", small)) == {"TemplateBody"}
    argument = ops._template_argument(ctx, "big", big)
    assert set(argument) == {"TemplateURL"}
    # CloudFormation reads it back from the private staging bucket and builds from it.
    cfn = ctx.client("cloudformation")
    cfn.create_stack(StackName="big", **argument)
    assert ops.describe(ctx, "big")["StackStatus"] == "CREATE_COMPLETE"
    resources = cfn.list_stack_resources(StackName="big")["StackResourceSummaries"]
    assert [r["LogicalResourceId"] for r in resources] == ["Notes"]
    bucket = argument["TemplateURL"].split("//")[1].split(".s3.")[0]
    block = ctx.client("s3").get_public_access_block(Bucket=bucket)
    assert all(block["PublicAccessBlockConfiguration"].values())
    cfn.delete_stack(StackName="big")


def test_an_existing_public_key_can_be_imported(sandbox: dict, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)  # fmt: skip
    path = tmp_path / "id_ed25519.pub"
    path.write_bytes(public + b" learner@laptop\n")
    rc, events, text = events_of("deploy", "--stack", "imported", "--import-public-key",
                                 str(path))  # fmt: skip
    assert rc == 0, text
    key = next(e for e in events if e["type"] == "key_pair_ready")
    assert key == {"type": "key_pair_ready", "name": "imported-imported", "path": None,
                   "created": True}  # fmt: skip
    ctx = context(sandbox)
    params = ops.parameters_of(ops.describe(ctx, "imported"))
    assert params["KeyName"] == "imported-imported"
    assert "imported-imported" in {k["KeyName"] for k in ctx.client("ec2").describe_key_pairs()[
        "KeyPairs"]}  # fmt: skip
    rc, _, text = events_of("delete", "--stack", "imported", "--yes")
    assert rc == 0, text
