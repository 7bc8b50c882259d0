"""Deploy, inspect and delete the workshop's CloudFormation stack, as a stream of events."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dlworkshop.aws.stack_events import FailureReason, follow, newest
from dlworkshop.cfn import template
from dlworkshop.context import Context
from dlworkshop.errors import UserError, explain
from dlworkshop.events import Event, Failed, Log

HEALTHY = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
BROKEN = {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED", "DELETE_FAILED",
          "UPDATE_ROLLBACK_FAILED"}  # fmt: skip
TAG = "dlworkshop:stack"


@dataclass(frozen=True)
class StackPlan(Event):
    """What deploy is about to do, with which parameters."""

    stack: str
    action: str  # create, update, reuse, replace
    parameters: dict = field(default_factory=dict)

    def render_text(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.parameters.items())
        shown = f" [dim]({params})[/]" if params else ""
        return f"[bold]{self.action.capitalize()}[/] stack {self.stack}{shown}"


@dataclass(frozen=True)
class ChangeSet(Event):
    """The changes an update would make, shown before it runs."""

    stack: str
    changes: list = field(default_factory=list)

    def render_text(self) -> str:
        lines = [f"[bold]Changes to {self.stack}[/]"]
        for c in self.changes:
            replace = " [red](replacement)[/]" if c.get("replacement") == "True" else ""
            lines.append(f"  {c['action']:<7} {c['logical_id']} [dim]{c['type']}[/]{replace}")
        return "\n".join(lines)


@dataclass(frozen=True)
class StackDone(Event):
    """The stack reached a terminal status; its outputs when it has them."""

    stack: str
    status: str
    outputs: dict = field(default_factory=dict)

    def render_text(self) -> str:
        colour = "green" if self.status in HEALTHY else "red"
        lines = [f"[bold]Stack {self.stack}[/] [{colour}]{self.status}[/]"]
        lines += [f"  {k:<22} {v}" for k, v in self.outputs.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class ContainerInstances(Event):
    """The cluster's registered container instances."""

    cluster: str
    expected: int
    instances: list = field(default_factory=list)

    def render_text(self) -> str:
        ok = len(self.instances) >= self.expected
        colour = "green" if ok else "yellow"
        lines = [f"[bold]Cluster {self.cluster}[/] [{colour}]{len(self.instances)} of "
                 f"{self.expected} container instances registered[/]"]  # fmt: skip
        lines += [f"  {i['ec2_instance_id']} {i['status']} "
                  f"{i.get('public_ip') or i.get('public_dns', '')}"
                  for i in self.instances]  # fmt: skip
        return "\n".join(lines)


@dataclass(frozen=True)
class StackDeleted(Event):
    """The stack and everything it made are gone."""

    stack: str

    def render_text(self) -> str:
        return f"[bold]Stack {self.stack}[/] [green]deleted[/]"


# ---- reading -------------------------------------------------------------------------
def describe(ctx: Context, stack: str) -> dict | None:
    """The stack's description, or None if there is no such stack."""
    from botocore.exceptions import ClientError

    try:
        return ctx.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def required(ctx: Context) -> dict:
    """The workshop's stack's description; a clear UserError when it is not there."""
    description = describe(ctx, ctx.state.stack_name)
    if description is None:
        from dlworkshop.errors import UserError

        raise UserError(f"There is no stack called {ctx.state.stack_name}: deploy it in Lab 1 "
                        "first.")  # fmt: skip
    return description


def outputs(description: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}


def parameters_of(description: dict) -> dict[str, str]:
    return {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in description.get("Parameters", [])
    }


def container_instances(ctx: Context, cluster: str) -> list[dict]:
    """Registered container instances of a cluster, with their EC2 details."""
    ecs = ctx.client("ecs")
    arns = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    if not arns:
        return []
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    found = [
        {"arn": c["containerInstanceArn"], "ec2_instance_id": c["ec2InstanceId"],
         "status": c["status"], "agent_connected": c.get("agentConnected", False)}
        for c in described["containerInstances"]
    ]  # fmt: skip
    ids = [c["ec2_instance_id"] for c in found]
    reservations = ctx.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    described_instances = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    for c in found:
        inst = described_instances.get(c["ec2_instance_id"], {})
        c["public_dns"] = inst.get("PublicDnsName", "")
        c["public_ip"] = inst.get("PublicIpAddress", "")
        c["private_ip"] = inst.get("PrivateIpAddress", "")
    return found


# ---- deploying -----------------------------------------------------------------------
def _template_argument(ctx: Context, stack: str, body: str) -> dict[str, str]:
    """TemplateBody, or a TemplateURL in a private staging bucket for large templates."""
    if len(body.encode()) <= template.MAX_BODY:
        return {"TemplateBody": body}
    s3 = ctx.client("s3")
    account = ctx.client("sts").get_caller_identity()["Account"]
    bucket = f"dlworkshop-templates-{account}-{ctx.target.region}"
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if ctx.target.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.target.region}
        s3.create_bucket(**kwargs)
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True})  # fmt: skip
    key = f"{stack}/{hashlib.sha256(body.encode()).hexdigest()[:16]}.yaml"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ServerSideEncryption="AES256")
    return {"TemplateURL": f"https://{bucket}.s3.{ctx.target.region}.amazonaws.com/{key}"}


def check_region(ctx: Context) -> None:
    """Refuse a region the account cannot use, before anything is created there."""
    from dlworkshop.aws.identity import enabled_regions

    regions = enabled_regions(ctx)
    if ctx.target.region not in regions:
        raise UserError(
            f"{ctx.target.region} is not a region this account can use. "
            f"Pick one of: {', '.join(regions)}."
        )


def _wait_for_instances(
    ctx: Context, cluster: str, expected: int, sleep: Callable[[float], None], timeout: float = 600
) -> Iterator[Event]:
    deadline = time.monotonic() + timeout
    delay = 5.0
    while True:
        found = container_instances(ctx, cluster)
        if len(found) >= expected or time.monotonic() > deadline:
            yield ContainerInstances(cluster, expected, found)
            return
        yield Log(f"{len(found)} of {expected} container instances registered; waiting…")
        sleep(delay)
        delay = min(delay * 1.5, 30)


def deploy(
    ctx: Context,
    stack: str,
    params: dict[str, str],
    existing: str = "reuse",
    confirm: Callable[[ChangeSet], bool] = lambda changes: True,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Create the stack, or update / reuse / replace an existing one, and stream progress.

    existing: "reuse" keeps a healthy stack as it is, "update" applies the parameters
    through a change set (shown, then `confirm`ed), "replace" deletes a failed stack first.
    """
    errors = template.validate(params)
    if errors:
        yield Failed("The template refuses these parameters: " + " ".join(errors),
                     "Fix the values and deploy again; nothing was created.")  # fmt: skip
        return
    check_region(ctx)
    cfn = ctx.client("cloudformation")
    current = describe(ctx, stack)
    status = current["StackStatus"] if current else None
    if status in BROKEN:
        if existing != "replace":
            yield Failed(f"The stack {stack} is {status} from an earlier deploy that failed.",
                         "Delete it and deploy again (Lab 1: Delete and retry; CLI: "
                         "`dlworkshop stack deploy --replace`).")  # fmt: skip
            return
        yield StackPlan(stack, "replace", params)
        for event in delete(ctx, stack, sleep=sleep):
            yield event
            if isinstance(event, Failed):
                return
        current, status = None, None
    if current is not None and status in HEALTHY and existing == "reuse":
        yield StackPlan(stack, "reuse", parameters_of(current))
        yield from _finish(ctx, stack, sleep)
        return
    if current is not None and status not in HEALTHY:  # another deploy's, in progress
        yield from _follow_other(ctx, stack, current["StackId"], current["StackStatus"], sleep)
        return

    args = {
        "StackName": stack,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": TAG, "Value": stack}],
        **_template_argument(ctx, stack, template.body()),
    }
    if current is None:
        yield StackPlan(stack, "create", params)
        try:
            stack_id = cfn.create_stack(**args, OnFailure="ROLLBACK")["StackId"]
        except Exception as exc:
            if _code(exc) == "AlreadyExistsException":  # another deploy created it just now
                mine = describe(ctx, stack)
                if mine is not None:
                    yield from _follow_other(ctx, stack, mine["StackId"], mine["StackStatus"],
                                             sleep)  # fmt: skip
                    return
            yield Failed(f"CloudFormation refused the stack: {explain(exc)}",
                         "Nothing was created. Fix the cause and deploy again.")  # fmt: skip
            return
        seen: set[str] = set()
        since = None
    else:
        yield StackPlan(stack, "update", params)
        changes = _change_set(ctx, stack, args, sleep)
        if changes is None:
            yield Log(f"{stack} already matches these parameters: nothing to update.")
            yield from _finish(ctx, stack, sleep)
            return
        yield changes
        if not confirm(changes):
            yield Log("Update cancelled; the stack is unchanged.", "warning")
            cfn.delete_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
            return
        seen, since = newest(cfn, stack)
        cfn.execute_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
        stack_id = current["StackId"]
    first_failure = ""
    for event in follow(cfn, stack_id, since, seen, sleep=sleep):
        if isinstance(event, FailureReason) and not first_failure:
            first_failure = event.reason
        yield event
    yield from _finish(ctx, stack, sleep, first_failure)


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _follow_other(
    ctx: Context, stack: str, stack_id: str, status: str, sleep: Callable[[float], None]
) -> Iterator[Event]:
    """Wait for a stack another deploy is changing, never offering to delete it."""
    cfn = ctx.client("cloudformation")
    if status not in HEALTHY and status not in BROKEN:
        yield Log(f"Another deploy is working on {stack} ({status}); following it until "
                  "it finishes.")  # fmt: skip
        yield from follow(cfn, stack_id, sleep=sleep)  # from its start: the whole tree
    yield from _finish(ctx, stack, sleep)


_CHANGE_SET = "dlworkshop-update"


def _change_set(ctx: Context, stack: str, args: dict, sleep) -> ChangeSet | None:
    """Create the update's change set and describe it; None when there is nothing to do."""
    cfn = ctx.client("cloudformation")
    # Remove a change set left by an earlier, unfinished update (only if there is one:
    # moto answers a delete of a missing change set with HTTP 500).
    existing = cfn.list_change_sets(StackName=stack).get("Summaries", [])
    if any(c["ChangeSetName"] == _CHANGE_SET for c in existing):
        cfn.delete_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
    kwargs = {k: v for k, v in args.items() if k != "Tags"}
    cfn.create_change_set(**kwargs, Tags=args["Tags"], ChangeSetName=_CHANGE_SET,
                          ChangeSetType="UPDATE")  # fmt: skip
    for _ in range(120):
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            break
        sleep(2)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates" in reason:
            cfn.delete_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
            return None
        raise UserError(f"The change set failed: {reason}")
    changes = [
        {"action": c["ResourceChange"]["Action"],
         "logical_id": c["ResourceChange"]["LogicalResourceId"],
         "type": c["ResourceChange"]["ResourceType"],
         "replacement": c["ResourceChange"].get("Replacement", "")}
        for c in described.get("Changes", [])
    ]  # fmt: skip
    if not changes:
        cfn.delete_change_set(StackName=stack, ChangeSetName=_CHANGE_SET)
        return None
    return ChangeSet(stack, changes)


def _finish(ctx: Context, stack: str, sleep, first_failure: str = "") -> Iterator[Event]:
    """Report the final status and outputs, then wait for the container instances."""
    description = describe(ctx, stack)
    if description is None:
        yield Failed(f"The stack {stack} is gone.")
        return
    status = description["StackStatus"]
    outs = outputs(description)
    yield StackDone(stack, status, outs)
    if status not in HEALTHY:
        why = f": {first_failure}" if first_failure else "."
        yield Failed(f"The stack {stack} ended in {status}{why}",
                     "Delete it and deploy again (Lab 1: Delete and retry; CLI: "
                     "`dlworkshop stack deploy --replace`).")  # fmt: skip
        return
    cluster = outs.get("ClusterName")
    if not cluster:
        return
    expected = int(parameters_of(description).get("InstanceCount") or 0)
    yield from _wait_for_instances(ctx, cluster, expected, sleep)


# ---- deleting ------------------------------------------------------------------------
def object_versions(ctx: Context, bucket: str, prefix: str = "") -> list[dict]:
    """Every object version and delete marker (under `prefix`); none if there is no bucket."""
    from botocore.exceptions import ClientError

    s3 = ctx.client("s3")
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        return [{"Key": v["Key"], "VersionId": v["VersionId"]} for page in pages
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]  # fmt: skip
    except ClientError as exc:
        if "NoSuchBucket" not in str(exc):
            raise
        return []


def delete_objects(ctx: Context, bucket: str, objects: list[dict]) -> None:
    """Delete object versions, a thousand per call (S3's limit)."""
    for start in range(0, len(objects), 1000):
        ctx.client("s3").delete_objects(Bucket=bucket,
                                        Delete={"Objects": objects[start:start + 1000]})


def _empty_bucket(ctx: Context, bucket: str) -> int:
    """Delete every object (and version) so CloudFormation can delete the bucket."""
    doomed = object_versions(ctx, bucket)
    delete_objects(ctx, bucket, doomed)
    return len(doomed)


def delete(
    ctx: Context, stack: str, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Event]:
    """Delete the stack (emptying its buckets first) and confirm nothing is left."""
    cfn = ctx.client("cloudformation")
    current = describe(ctx, stack)
    if current is None:
        yield Log(f"There is no stack called {stack}; nothing to delete.")
        yield StackDeleted(stack)
        return
    outs = outputs(current)
    for key in ("InputBucketName", "OutputBucketName"):
        if outs.get(key):
            removed = _empty_bucket(ctx, outs[key])
            yield Log(f"Emptied {outs[key]} ({removed} objects) so it can be deleted.")
    stack_id = current["StackId"]
    seen, since = newest(cfn, stack)
    yield StackPlan(stack, "delete", {})
    cfn.delete_stack(StackName=stack)
    last = None
    for event in follow(cfn, stack_id, since, seen, sleep=sleep):
        yield event
        last = event
    status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
    if status == "DELETE_COMPLETE":
        yield StackDeleted(stack)
    else:
        reason = getattr(last, "reason", "")
        yield Failed(f"Deleting {stack} ended in {status}. {reason}".strip(),
                     "Fix what blocks it (see above) and delete again.")  # fmt: skip
