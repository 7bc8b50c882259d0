"""Cleanup: delete everything the workshop made, then prove nothing is left.

Every step looks before it acts, so a cleanup killed at any point and run again finishes
the job; a dry run lists what each step would delete and changes nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dlworkshop import state as state_store
from dlworkshop.aws import stack as stack_ops
from dlworkshop.aws import taskdef
from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context
from dlworkshop.errors import explain
from dlworkshop.events import Event, Failed, Log

Ask = Callable[[str, str, str], bool]  # (question, yes label, no label) -> yes?
KINDS = (taskdef.SERVE, taskdef.JUPYTER, "train", "predict")  # task definition families
DELETED, STOPPED, EMPTIED, KEPT, ABSENT, WOULD = (
    "deleted", "stopped", "emptied", "kept", "absent", "would delete")  # fmt: skip


@dataclass(frozen=True)
class CleanupStep(Event):
    """One thing cleanup dealt with, and how."""

    kind: str
    name: str
    outcome: str
    detail: str = ""

    def render_text(self) -> str:
        colour = {DELETED: "green", STOPPED: "green", EMPTIED: "green", KEPT: "yellow",
                  WOULD: "yellow", ABSENT: "dim"}.get(self.outcome, "red")  # fmt: skip
        detail = f" ({self.detail})" if self.detail else ""
        return f"  [{colour}]{self.outcome:<12}[/] {self.kind} {self.name}{detail}"


@dataclass(frozen=True)
class Leftover(Event):
    """Something of the workshop's still there after cleanup, and what to do about it."""

    kind: str
    name: str
    fix: str

    def render_text(self) -> str:
        return f"  [red]left[/] {self.kind} {self.name}: {self.fix}"


@dataclass(frozen=True)
class CleanupSummary(Event):
    """What went, what is left, and what the workshop cost."""

    stack: str
    dry_run: bool
    deleted: list = field(default_factory=list)
    leftover: list = field(default_factory=list)
    cost: dict | None = None

    def render_text(self) -> str:
        if self.dry_run:
            return (f"[bold]Dry run[/]: {len(self.deleted)} things would be deleted; "
                    "nothing was changed.")  # fmt: skip
        lines = [f"[bold]Cleanup of {self.stack}[/]: {len(self.deleted)} things deleted or "
                 "stopped, " + ("[green]nothing left running or billing[/]" if not self.leftover
                                else f"[red]{len(self.leftover)} left[/] (see above)")]  # fmt: skip
        if self.cost:
            lines.append(f"  The workshop cost about ${self.cost['dollars']:.2f} over "
                         f"{self.cost['hours']:.1f} h ({self.cost['source']}).")
        return "\n".join(lines)


# ---- what the workshop made -----------------------------------------------------------
@dataclass
class Found:
    """The stack and the names of what it and the labs made."""

    stack: str
    description: dict | None
    outputs: dict[str, str]

    @property
    def cluster(self) -> str:
        return self.outputs.get("ClusterName") or f"{self.stack}-cluster"

    @property
    def repository(self) -> str:
        return self.outputs.get("RepositoryName") or f"{self.stack}-mxnet"

    @property
    def log_group(self) -> str:
        return self.outputs.get("LogGroupName") or f"/dlworkshop/{self.stack}"

    @property
    def buckets(self) -> list[str]:
        return [self.outputs[k] for k in ("InputBucketName", "OutputBucketName")
                if self.outputs.get(k)]  # fmt: skip


def find(ctx: Context) -> Found:
    name = ctx.state.stack_name
    description = stack_ops.describe(ctx, name)
    return Found(name, description, stack_ops.outputs(description) if description else {})


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def staging_bucket(ctx: Context) -> str:
    account = ctx.client("sts").get_caller_identity()["Account"]
    return f"dlworkshop-templates-{account}-{ctx.target.region}"


def _cluster_active(ctx: Context, cluster: str) -> bool:
    found = ctx.client("ecs").describe_clusters(clusters=[cluster]).get("clusters", [])
    return any(c.get("status") == "ACTIVE" for c in found)


def _families(stack: str) -> set[str]:
    return {taskdef.family(stack, kind) for kind in KINDS}


def _active_task_definitions(ctx: Context, stack: str) -> list[str]:
    ecs, arns = ctx.client("ecs"), []
    for fam in sorted(_families(stack)):
        pages = ecs.get_paginator("list_task_definitions").paginate(familyPrefix=fam,
                                                                      status="ACTIVE")
        for page in pages:
            arns += [a for a in page["taskDefinitionArns"]
                     if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == fam]  # fmt: skip
    return arns


def _images(ctx: Context, repository: str) -> list[dict]:
    try:
        pages = ctx.client("ecr").get_paginator("list_images").paginate(repositoryName=repository)
        return [i for page in pages for i in page.get("imageIds", [])]
    except Exception as exc:
        if _code(exc) == "RepositoryNotFoundException":
            return []
        raise


def _bucket_exists(ctx: Context, bucket: str) -> bool:
    try:
        ctx.client("s3").head_bucket(Bucket=bucket)
        return True
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def _own_key(ctx: Context) -> tuple[str | None, Path | None]:
    """The key pair dlworkshop made (or imported), and its private key file if we wrote it."""
    from dlworkshop.aws.keypairs import keys_dir

    s = ctx.state
    if not s.key_name or not s.key_created:
        return None, None
    path = Path(s.key_path) if s.key_path else None
    # Only a file in our own keys folder is ours; an imported key's private half is the
    # learner's own and is never touched.
    if path is not None and path.parent.resolve() != keys_dir().resolve():
        path = None
    return s.key_name, path


def _key_exists(ctx: Context, name: str) -> bool:
    try:
        return bool(ctx.client("ec2").describe_key_pairs(KeyNames=[name])["KeyPairs"])
    except Exception as exc:
        if _code(exc) == "InvalidKeyPair.NotFound":
            return False
        raise


# ---- the steps ------------------------------------------------------------------------
def _tunnels(ctx: Context, dry: bool) -> Iterator[Event]:
    from dlworkshop import processes
    from dlworkshop.remote import forwards

    record = forwards.current(ctx)
    if record is None:
        return
    pid = int(record["pid"])
    if dry:
        yield CleanupStep("SSH tunnel", record.get("endpoint", ""), WOULD, f"PID {pid}")
        return
    if pid == os.getpid():
        forwards.close_here()
    else:
        processes.terminate(pid, "dlworkshop")
    forwards.forget(pid)
    ctx.state.services.pop(forwards.NAME, None)  # this process's copy too
    yield CleanupStep("SSH tunnel", record.get("endpoint", ""), STOPPED)


def _tasks(ctx: Context, found: Found, dry: bool, sleep) -> Iterator[Event]:
    from dlworkshop.aws import tasks

    if found.description is None or not _cluster_active(ctx, found.cluster):
        return
    ecs = ctx.client("ecs")
    for arn in ecs.list_services(cluster=found.cluster).get("serviceArns", []):
        name = arn.rsplit("/", 1)[-1]
        if dry:
            yield CleanupStep("ECS service", name, WOULD)
            continue
        ecs.update_service(cluster=found.cluster, service=arn, desiredCount=0)
        ecs.delete_service(cluster=found.cluster, service=arn, force=True)
        yield CleanupStep("ECS service", name, DELETED)
    running = tasks.listed(ctx, None)
    if dry:
        for t in running:
            yield CleanupStep("ECS task", t.short_id, WOULD, f"{t.status} on {t.instance_id}")
        return
    if running:
        for event in tasks.stop(ctx, None, sleep=sleep):
            if isinstance(event, Failed):
                yield event
        for t in running:
            yield CleanupStep("ECS task", t.short_id, STOPPED, t.instance_id)


def _task_definitions(ctx: Context, found: Found, dry: bool) -> Iterator[Event]:
    ecs = ctx.client("ecs")
    for arn in _active_task_definitions(ctx, found.stack):
        name = arn.rsplit("/", 1)[-1]
        if not dry:
            ecs.deregister_task_definition(taskDefinition=arn)
        yield CleanupStep("task definition", name, WOULD if dry else DELETED,
                          "" if dry else "deregistered")  # fmt: skip


def _ecr_images(ctx: Context, found: Found, dry: bool) -> Iterator[Event]:
    images = _images(ctx, found.repository)
    if not images:
        return
    if not dry:
        ecr = ctx.client("ecr")
        for start in range(0, len(images), 100):
            ecr.batch_delete_image(repositoryName=found.repository,
                                   imageIds=images[start:start + 100])  # fmt: skip
    yield CleanupStep("ECR images", found.repository, WOULD if dry else DELETED,
                      f"{len(images)} image(s)")  # fmt: skip


def _buckets(ctx: Context, found: Found, dry: bool) -> Iterator[Event]:
    for bucket in found.buckets:
        objects = stack_ops.object_versions(ctx, bucket)
        if not objects:
            continue
        if not dry:
            stack_ops.delete_objects(ctx, bucket, objects)
        yield CleanupStep("S3 objects", bucket, WOULD if dry else EMPTIED,
                          f"{len(objects)} object version(s) and delete markers")  # fmt: skip


def _stack(ctx: Context, found: Found, dry: bool, sleep) -> Iterator[Event]:
    if found.description is None:
        return
    if dry:
        yield CleanupStep("stack", found.stack, WOULD, found.description["StackStatus"])
        return
    ok = True
    for event in stack_ops.delete(ctx, found.stack, sleep=sleep):
        ok = ok and not isinstance(event, Failed)
        yield event
    if ok:
        yield CleanupStep("stack", found.stack, DELETED, "with its buckets, repository, "
                          "log group, cluster and instances")  # fmt: skip


def _log_group(ctx: Context, found: Found, dry: bool) -> Iterator[Event]:
    """The log group once its stack is gone (a task's log driver can make it again, and a
    stack deleted outside dlworkshop may leave it); while the stack exists, it owns it."""
    if (found.description if dry else stack_ops.describe(ctx, found.stack)) is not None:
        return
    logs = ctx.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=found.log_group)["logGroups"]
    if not any(g["logGroupName"] == found.log_group for g in groups):
        return
    if not dry:
        logs.delete_log_group(logGroupName=found.log_group)
    yield CleanupStep("log group", found.log_group, WOULD if dry else DELETED)


def _key(ctx: Context, ask: Ask, keep_key: bool, dry: bool) -> Iterator[Event]:
    name, path = _own_key(ctx)
    if name is None:
        return
    exists = _key_exists(ctx, name)
    has_file = path is not None and path.exists()
    if not exists and not has_file:
        return
    what = f"key pair {name}" + (f" and its private key {path}" if has_file else "")
    if dry:
        yield CleanupStep("key pair", name, WOULD, str(path) if has_file else "")
        return
    if keep_key or not ask(f"Delete the {what}? SSH to instances made with it stops working.",
                           "Delete", "Keep"):  # fmt: skip
        yield CleanupStep("key pair", name, KEPT, "as asked")
        return
    if exists:
        ctx.client("ec2").delete_key_pair(KeyName=name)
    if has_file and path is not None:
        path.unlink(missing_ok=True)

    def forget(s: state_store.State) -> None:
        s.key_name = s.key_path = None
        s.key_created = False

    forget(ctx.state)
    state_store.update(forget)
    yield CleanupStep("key pair", name, DELETED, str(path) if has_file else "")


def _staging(ctx: Context, stack: str, dry: bool) -> Iterator[Event]:
    bucket = staging_bucket(ctx)
    if not _bucket_exists(ctx, bucket):
        return
    mine = stack_ops.object_versions(ctx, bucket, f"{stack}/")
    others = [o for o in stack_ops.object_versions(ctx, bucket)
              if not o["Key"].startswith(f"{stack}/")]  # fmt: skip
    if dry:
        yield CleanupStep("template bucket", bucket, WOULD,
                          "its objects of this stack" if others else "")  # fmt: skip
        return
    stack_ops.delete_objects(ctx, bucket, mine)
    if others:
        yield CleanupStep("template bucket", bucket, KEPT,
                          f"emptied of {stack}'s templates; other stacks' remain")  # fmt: skip
        return
    ctx.client("s3").delete_bucket(Bucket=bucket)
    yield CleanupStep("template bucket", bucket, DELETED)


def _local_images(ask: Ask, remove: bool | None, dry: bool) -> Iterator[Event]:
    """The images Lab 2 built; removing them means a slow rebuild, so only when asked."""
    try:
        from dlworkshop.container import engine

        client = engine.client()
        images = client.images.list(name="dlworkshop/mxnet")
    except Exception as exc:  # no engine here: nothing local to remove
        yield Log(f"Local images not checked: {explain(exc)}", "warning")
        return
    tags = sorted({t for i in images for t in i.tags})
    if not tags:
        return
    if dry:
        if remove:
            yield CleanupStep("local images", ", ".join(tags), WOULD)
        else:
            yield CleanupStep("local images", ", ".join(tags), KEPT,
                              "they do not bill; removed only when asked")  # fmt: skip
        return
    wanted = remove if remove is not None else ask(
        f"Also remove the local images {', '.join(tags)}? They cost nothing, and building "
        "them again takes minutes.", "Remove", "Keep")  # fmt: skip
    if not wanted:
        yield CleanupStep("local images", ", ".join(tags), KEPT, "they do not bill")
        return
    for tag in tags:
        client.images.remove(tag, noprune=False)
    yield CleanupStep("local images", ", ".join(tags), DELETED)


def _model_server(dry: bool) -> Iterator[Event]:
    from dlworkshop.classifier import service

    running = service.current()
    if running is None:
        return
    if not dry:
        service.stop(running)
    yield CleanupStep("model server", running.endpoint, WOULD if dry else STOPPED,
                      f"PID {running.pid}")  # fmt: skip


# ---- verifying ------------------------------------------------------------------------
def _tagged(ctx: Context, stack: str) -> list[str]:
    """ARNs the tagging API lists for the stack (by our tag and by CloudFormation's)."""
    tagging = ctx.client("resourcegroupstaggingapi")
    arns: list[str] = []
    for key in (stack_ops.TAG, "aws:cloudformation:stack-name"):
        pages = tagging.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": key, "Values": [stack]}])
        for page in pages:
            arns += [r["ResourceARN"] for r in page.get("ResourceTagMappingList", [])]
    return sorted(set(arns))


def _kind(arn: str) -> str:
    """"ec2:instance" from an instance's ARN: the service and the resource type."""
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) > 5 else ""
    return f"{parts[2]}:{re.split('[/:]', resource)[0]}" if resource else parts[2]


# Tagged resource kinds as the per-service listings (and the learner) name them.
_NAMES = {"ec2:instance": "EC2 instance", "ecs:task-definition": "task definition",
          "ecs:cluster": "ECS cluster", "logs:log-group": "log group",
          "ecr:repository": "ECR repository"}  # fmt: skip


def _named(arn: str) -> tuple[str, str]:
    """(kind, name) of a tagged ARN, the same as a listing names that resource."""
    kind = _kind(arn)
    if arn.startswith("arn:aws:s3:::"):
        return "S3 bucket", arn.split(":::", 1)[1]
    if kind == "logs:log-group":
        return "log group", arn.split(":log-group:", 1)[1].removesuffix(":*")
    return _NAMES.get(kind, kind), arn.rsplit("/", 1)[-1] if kind in _NAMES else arn


def _still_there(ctx: Context, arn: str) -> bool:
    """The tagging API also lists what was deleted a moment ago: look again, by kind."""
    kind = _kind(arn)
    ident = arn.rsplit("/", 1)[-1]
    if kind == "ec2:instance":
        found = ctx.client("ec2").describe_instances(InstanceIds=[ident])["Reservations"]
        states = [i["State"]["Name"] for r in found for i in r["Instances"]]
        return any(s not in ("terminated", "shutting-down") for s in states)
    if kind == "ecs:task-definition":
        described = ctx.client("ecs").describe_task_definition(taskDefinition=arn)
        return described["taskDefinition"].get("status") == "ACTIVE"
    if kind == "ecs:cluster":
        return _cluster_active(ctx, ident)
    if arn.startswith("arn:aws:s3:::"):
        return _bucket_exists(ctx, arn.split(":::", 1)[1])
    if kind == "logs:log-group":
        name = arn.split(":log-group:", 1)[1].removesuffix(":*")
        groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return any(g["logGroupName"] == name for g in groups)
    return kind != "cloudformation:stack"  # the stack itself is looked up by name


def _fix(kind: str, name: str) -> str:
    return {
        "stack": "run cleanup again; if it ends in DELETE_FAILED, the stack's events in the "
                 "CloudFormation console say which resource blocks it",
        "EC2 instance": "terminate it (EC2 console, or `aws ec2 terminate-instances`)",
        "S3 bucket": "empty and delete it in the S3 console",
        "key pair": "delete it in the EC2 console (Key pairs), or run cleanup again",
        "task definition": "deregister it (ECS console, Task definitions)",
        "log group": "delete it in the CloudWatch console (Log groups)",
        "ECR repository": "delete it in the ECR console (it may still hold images)",
        "ECS cluster": "delete it in the ECS console once no instance is registered",
        "template bucket": "empty and delete it in the S3 console",
        "SSH tunnel": "close the `dlworkshop tunnel` that holds it (Ctrl+C)",
        "model server": "stop it (Lab 4, or kill the `dlworkshop serve` process)",
    }.get(kind, "delete it in its console (run cleanup again first)")


def leftovers(ctx: Context, stack: str | None = None, keep_key: bool = False) -> list[Leftover]:
    """Everything of the workshop still there: tagged resources, plus per-service listings
    of what tags miss (key pairs, task definitions, log groups, repositories, instances)."""
    from dlworkshop.classifier import service
    from dlworkshop.remote import forwards

    stack = stack or ctx.state.stack_name
    found = find(ctx)
    left: list[Leftover] = []

    def add(kind: str, name: str) -> None:
        if not any(x.kind == kind and x.name == name for x in left):
            left.append(Leftover(kind, name, _fix(kind, name)))

    if found.description is not None:
        add("stack", f"{stack} ({found.description['StackStatus']})")
    for arn in _tagged(ctx, stack):
        if _still_there(ctx, arn):
            add(*_named(arn))
    name, path = _own_key(ctx)
    if name and not keep_key and (_key_exists(ctx, name) or (path and path.exists())):
        add("key pair", name)
    for arn in _active_task_definitions(ctx, stack):
        add("task definition", arn.rsplit("/", 1)[-1])
    logs = ctx.client("logs").describe_log_groups(logGroupNamePrefix=found.log_group)
    for group in logs.get("logGroups", []):
        if group["logGroupName"] == found.log_group:
            add("log group", found.log_group)
    try:
        ctx.client("ecr").describe_repositories(repositoryNames=[found.repository])
        add("ECR repository", found.repository)
    except Exception as exc:
        if _code(exc) != "RepositoryNotFoundException":
            raise
    if _cluster_active(ctx, found.cluster):
        add("ECS cluster", found.cluster)
    reservations = ctx.client("ec2").describe_instances(Filters=[
        {"Name": f"tag:{stack_ops.TAG}", "Values": [stack]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ])["Reservations"]  # fmt: skip
    for r in reservations:
        for i in r["Instances"]:
            add("EC2 instance", i["InstanceId"])
    bucket = staging_bucket(ctx)
    if _bucket_exists(ctx, bucket) and (stack_ops.object_versions(ctx, bucket, f"{stack}/")
                                        or not stack_ops.object_versions(ctx, bucket)):  # fmt: skip
        add("template bucket", bucket)
    tunnel = forwards.current(ctx)
    if tunnel:
        add("SSH tunnel", tunnel.get("endpoint", ""))
    server = service.current()
    if server:
        add("model server", server.endpoint)
    return left


def check_empty(ctx: Context) -> CheckResult:
    """Checkpoint: nothing of the workshop is left running or billing."""
    left = leftovers(ctx)
    if left:
        names = "; ".join(f"{x.kind} {x.name}" for x in left[:4])
        more = f" and {len(left) - 4} more" if len(left) > 4 else ""
        return CheckResult.fail(f"{len(left)} left: {names}{more}. Run cleanup.")
    return CheckResult.ok(f"nothing of {ctx.state.stack_name} is left in {ctx.target.region}")


# ---- the whole job --------------------------------------------------------------------
def _remember_spend(ctx: Context, found: Found) -> None:
    """Keep what the stack cost knowable after it is gone."""
    if found.description is None:
        return
    created = found.description["CreationTime"]
    record = {"created": created.timestamp() if hasattr(created, "timestamp") else created,
              "params": stack_ops.parameters_of(found.description), "deleted": None}  # fmt: skip
    if ctx.state.spend.get(found.stack, {}).get("created") == record["created"]:
        return

    def keep(s: state_store.State) -> None:
        s.spend[found.stack] = record

    keep(ctx.state)
    state_store.update(keep)


def _cost(ctx: Context, stack: str) -> dict | None:
    from dlworkshop.aws import cost

    record = ctx.state.spend.get(stack)
    if not record:
        return None
    if record.get("deleted") is None:
        deleted = time.time()

        def ended(s: state_store.State) -> None:
            if stack in s.spend:
                s.spend[stack]["deleted"] = deleted

        ended(ctx.state)
        state_store.update(ended)
    spent = cost.spent(ctx, stack, record["created"], record.get("params", {}),
                       until=ctx.state.spend[stack]["deleted"], billed=False)  # fmt: skip
    return {"dollars": spent.dollars, "hours": spent.hours, "source": spent.source}


def run(ctx: Context, ask: Ask, keep_key: bool = False, dry_run: bool = False,
        remove_images: bool | None = False,
        sleep: Callable[[float], None] = time.sleep) -> Iterator[Event]:  # fmt: skip
    """Delete what the workshop made, in dependency order, then verify and summarise.

    remove_images: True or False decides about local images; None asks.
    """
    found = find(ctx)
    yield Log(f"{'Looking at' if dry_run else 'Cleaning up'} {found.stack} in "
              f"{ctx.target.region}" + ("" if found.description else " (the stack is gone)"))
    if not dry_run:
        _remember_spend(ctx, found)
    steps: list[CleanupStep] = []
    stages: list[tuple[str, Callable[[], Iterator[Event]]]] = [
        ("tunnels", lambda: _tunnels(ctx, dry_run)),
        ("tasks", lambda: _tasks(ctx, found, dry_run, sleep)),
        ("task definitions", lambda: _task_definitions(ctx, found, dry_run)),
        ("images in ECR", lambda: _ecr_images(ctx, found, dry_run)),
        ("buckets", lambda: _buckets(ctx, found, dry_run)),
        ("stack", lambda: _stack(ctx, found, dry_run, sleep)),
        ("log group", lambda: _log_group(ctx, found, dry_run)),
        ("key pair", lambda: _key(ctx, ask, keep_key, dry_run)),
        ("template bucket", lambda: _staging(ctx, found.stack, dry_run)),
        ("local images", lambda: _local_images(ask, remove_images, dry_run)),
        ("model server", lambda: _model_server(dry_run)),
    ]
    for name, stage in stages:
        try:
            for event in stage():
                if isinstance(event, CleanupStep):
                    steps.append(event)
                yield event
        except Exception as exc:  # one stage failing must not stop the others
            yield Failed(f"Cleanup could not finish its {name}: {explain(exc)}",
                         "Run cleanup again; it picks up where it stopped.")  # fmt: skip
    gone = [s for s in steps if s.outcome in (DELETED, STOPPED, EMPTIED, WOULD)]
    if dry_run:
        yield CleanupSummary(found.stack, True, [s.to_dict() for s in gone])
        return
    left = leftovers(ctx, found.stack, keep_key)
    yield from left
    result = (CheckResult.ok(f"nothing of {found.stack} is left in {ctx.target.region}")
              if not left else CheckResult.fail(f"{len(left)} left after cleanup"))  # fmt: skip

    def record(s: state_store.State) -> None:
        s.record(ctx.target.mode, "cleanup.empty", result.passed, result.reason)

    record(ctx.state)
    state_store.update(record)
    cost = _cost(ctx, found.stack)
    yield CleanupSummary(found.stack, False, [s.to_dict() for s in gone],
                         [x.to_dict() for x in left], cost)  # fmt: skip
