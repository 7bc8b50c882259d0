"""Lab 3's task definitions: the pushed MXNet image as the model server or JupyterLab."""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from dlworkshop.aws import stack as stack_ops
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event, Log

SERVE, JUPYTER = "serve", "jupyter"
TRAIN, PREDICT = "train", "predict"  # one-off jobs: they run, write to S3, and stop
JOBS = (TRAIN, PREDICT)
KINDS = (SERVE, JUPYTER, *JOBS)
PORTS = {SERVE: 8080, JUPYTER: 8888}
CONTAINER = "mxnet"
AGENT_RESERVE_MIB = 512  # what the ECS agent, Docker and the OS keep on an instance
# What the ECS agent registers for a type when Price List/EC2 cannot say (m5.large).
DEFAULT_VCPUS, DEFAULT_MEMORY_MIB = 2, 8192
# Each task's share of an instance, so that the model server, Jupyter and a job fit side by
# side (training holds its whole dataset as float32: CIFAR-10 is 0.6 GB of it).
SHARE = {SERVE: 0.45, JUPYTER: 0.15, TRAIN: 0.3, PREDICT: 0.1}
# Only what ECS itself would compare; the rest of describe_task_definition is bookkeeping.
COMPARED = ("containerDefinitions", "taskRoleArn", "executionRoleArn", "networkMode",
            "cpu", "memory", "requiresCompatibilities")  # fmt: skip


@dataclass(frozen=True)
class TaskDefinitionReady(Event):
    """The task definition to run: its revision, and whether this call registered it."""

    family: str
    revision: int
    arn: str
    image: str
    registered: bool
    definition: dict = field(default_factory=dict)

    def render_text(self) -> str:
        what = "registered" if self.registered else "unchanged, reusing"
        return f"[bold]Task definition {self.family}:{self.revision}[/] {what} ({self.image})"

    def json(self) -> str:
        """The definition as registered, for showing (syntax-highlighted where possible)."""
        return json.dumps(self.definition, indent=2)

    def renderable(self):
        """The headline and the JSON, highlighted, for a terminal."""
        from rich.console import Group
        from rich.syntax import Syntax

        return Group(self.render_text(), Syntax(self.json(), "json", word_wrap=True))


@dataclass(frozen=True)
class Image:
    """The image Lab 2 pushed: its repository URI and digest in ECR."""

    uri: str
    digest: str
    tag: str

    @property
    def reference(self) -> str:
        """Pinned by digest: a task runs exactly the image that was pushed and checked."""
        return f"{self.uri}@{self.digest}"


def pushed_image(ctx: Context) -> Image:
    """The newest tagged image in the stack's repository."""
    from dlworkshop.aws import registry

    repo = registry.repository(ctx)
    images = ctx.client("ecr").describe_images(repositoryName=repo.name)["imageDetails"]
    tagged = [i for i in images if i.get("imageTags")]
    if not tagged:
        raise UserError(f"{repo.name} has no image yet: push it in Lab 2 first.")
    newest = max(tagged, key=lambda i: str(i.get("imagePushedAt", "")))
    return Image(repo.uri, newest["imageDigest"], newest["imageTags"][0])


def _size(ctx: Context, instance_type: str) -> tuple[int, int]:
    """CPU units and MiB a task may reserve on one instance of this type."""
    vcpus, memory = DEFAULT_VCPUS, DEFAULT_MEMORY_MIB
    try:
        info = ctx.client("ec2").describe_instance_types(InstanceTypes=[instance_type])
        described = info["InstanceTypes"][0]
        vcpus = described["VCpuInfo"]["DefaultVCpus"]
        memory = described["MemoryInfo"]["SizeInMiB"]
    except Exception:  # an unknown type here still gets a sensible, small size
        pass
    return vcpus * 1024, memory - AGENT_RESERVE_MIB


def family(stack: str, kind: str) -> str:
    return f"{stack}-{kind}"


def build(ctx: Context, kind: str = SERVE, image: Image | None = None) -> dict:
    """register_task_definition's arguments for the stack and the pushed image."""
    if kind not in KINDS:
        raise UserError(f"{kind!r} is not a workshop task; use one of {', '.join(KINDS)}.")
    stack = ctx.state.stack_name
    description = stack_ops.required(ctx)
    outs = stack_ops.outputs(description)
    params = stack_ops.parameters_of(description)
    image = image or pushed_image(ctx)
    gpu = params.get("UseGpu") == "true"
    total_cpu, total_memory = _size(ctx, params.get("InstanceType", "m5.large"))
    cpu, memory = int(total_cpu * SHARE[kind]), int(total_memory * SHARE[kind])
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image.reference,
        "essential": True,
        "memory": memory,
        # An init process as PID 1 passes ECS's SIGTERM on: Python as PID 1 ignores it, and
        # a stopped job would wait out the stop timeout and be killed (exit 137).
        "linuxParameters": {"initProcessEnabled": True},
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": outs["LogGroupName"], "awslogs-region": ctx.target.region,
            "awslogs-stream-prefix": kind}},
    }
    if kind in JOBS:
        # The command is each run's (an override); the buckets and region are the stack's.
        container["command"] = ["dlworkshop", kind, "--help"]
        container["environment"] = [
            {"name": "AWS_DEFAULT_REGION", "value": ctx.target.region},
            {"name": "DLWORKSHOP_INPUT_BUCKET", "value": outs["InputBucketName"]},
            {"name": "DLWORKSHOP_OUTPUT_BUCKET", "value": outs["OutputBucketName"]},
        ]
    else:
        _serving(container, kind, gpu)
    if gpu and kind != PREDICT:  # a prediction job is small: it leaves the GPU to the others
        container["resourceRequirements"] = [{"type": "GPU", "value": "1"}]
    return {
        "family": family(stack, kind),
        "networkMode": "host",  # the instance's own ports: SSH forwards reach them there
        "requiresCompatibilities": ["EC2"],
        "taskRoleArn": outs["TaskRoleArn"],
        "executionRoleArn": outs["TaskExecutionRoleArn"],
        "cpu": str(cpu),
        "memory": str(memory),
        "containerDefinitions": [container],
        "tags": [{"key": "dlworkshop:stack", "value": stack}],
    }


def _serving(container: dict[str, Any], kind: str, gpu: bool) -> None:
    """The model server or Jupyter: its command, port and (for the server) health check."""
    port = PORTS[kind]
    container["portMappings"] = [{"containerPort": port, "hostPort": port, "protocol": "tcp"}]
    if kind == JUPYTER:
        container["command"] = ["jupyter", "lab", "--port", str(port)]
        return
    container["command"] = ["dlworkshop", "serve", "--port", str(port)] + (
        ["--gpu"] if gpu else [])  # fmt: skip
    check = ("python -c \"import os, sys, urllib.request; h = os.environ.get("
             "'DLWORKSHOP_BIND_ADDRESS', '0.0.0.0').replace('0.0.0.0', '127.0.0.1'); "
             f"sys.exit(urllib.request.urlopen(f'http://{{h}}:{port}/ping', timeout=4)"
             ".status != 200)\"")  # fmt: skip
    container["healthCheck"] = {"command": ["CMD-SHELL", check], "interval": 5,
                                "timeout": 5, "retries": 3, "startPeriod": 60}  # fmt: skip


def _normalised(definition: dict) -> str:
    """What two definitions are compared by (JSON, keys sorted, defaults dropped)."""
    picked = {k: definition.get(k) for k in COMPARED}
    for c in picked.get("containerDefinitions") or []:
        for key in [k for k, v in c.items() if v in ([], {}, None, 0, "")]:
            del c[key]
        c.setdefault("essential", True)
    return json.dumps(picked, sort_keys=True, default=str)


def latest(ctx: Context, name: str) -> dict | None:
    """The newest ACTIVE revision of a family, or None."""
    ecs = ctx.client("ecs")
    arns = ecs.list_task_definitions(familyPrefix=name, status="ACTIVE",
                                     sort="DESC").get("taskDefinitionArns", [])  # fmt: skip
    arns = [a for a in arns if a.rsplit("/", 1)[1].rsplit(":", 1)[0] == name]
    if not arns:
        return None
    return ecs.describe_task_definition(taskDefinition=arns[0])["taskDefinition"]


def register(ctx: Context, kind: str = SERVE) -> Generator[Event, None, TaskDefinitionReady]:
    """Register a new revision only when the definition changed; yield the one to run, and
    return it (`ready = yield from register(…)`)."""
    wanted = build(ctx, kind)
    current = latest(ctx, wanted["family"])
    image = wanted["containerDefinitions"][0]["image"]
    if current is not None and _normalised(current) == _normalised(json.loads(
            json.dumps(wanted))):  # fmt: skip
        ready = TaskDefinitionReady(current["family"], current["revision"],
                                    current["taskDefinitionArn"], image, False, wanted)  # fmt: skip
        yield ready
        return ready
    if current is not None:
        yield Log(f"{wanted['family']}:{current['revision']} differs from the stack and the "
                  "pushed image; registering a new revision.")  # fmt: skip
    made = ctx.client("ecs").register_task_definition(**wanted)["taskDefinition"]
    ready = TaskDefinitionReady(made["family"], made["revision"], made["taskDefinitionArn"],
                                image, True, wanted)  # fmt: skip
    yield ready
    return ready


def check_registered(ctx: Context):
    """Checkpoint: the model server's newest revision runs the image pushed in Lab 2."""
    from dlworkshop.checkpoints import CheckResult

    try:
        image = pushed_image(ctx)
    except UserError as exc:
        return CheckResult.fail(str(exc))
    current = latest(ctx, family(ctx.state.stack_name, SERVE))
    if current is None:
        return CheckResult.fail("No task definition yet: register it in Lab 3.")
    used = current["containerDefinitions"][0]["image"]
    if used != image.reference:
        return CheckResult.fail(f"{current['family']}:{current['revision']} runs {used}, not "
                                f"the pushed {image.digest[:19]}…: register again.")  # fmt: skip
    return CheckResult.ok(f"{current['family']}:{current['revision']} runs "
                          f"{image.tag}@{image.digest[:19]}…")  # fmt: skip
