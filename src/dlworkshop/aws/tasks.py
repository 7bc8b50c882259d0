"""Lab 3's tasks: run the model server (or Jupyter) on the cluster's instances, follow each
through PROVISIONING, PENDING and RUNNING, and stop them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from dlworkshop.aws import stack as stack_ops
from dlworkshop.aws import taskdef
from dlworkshop.context import Context
from dlworkshop.events import Event, Failed, Log

STARTED_BY = "dlworkshop"  # how the workshop's tasks are told from others on the cluster
FOLLOW_TIMEOUT = 15 * 60  # a first pull of the image on a new instance takes minutes


@dataclass(frozen=True)
class TaskState(Event):
    """One task as ECS describes it now."""

    task_id: str
    instance_id: str
    address: str  # the instance's public address (the sandbox's: its loopback one)
    status: str  # lastStatus
    desired: str
    health: str
    containers: list = field(default_factory=list)  # [{"name", "status", "exit_code", ...}]
    reason: str = ""  # stoppedReason
    family: str = ""

    @property
    def short_id(self) -> str:
        return self.task_id[:8]

    def render_text(self) -> str:
        colour = {"RUNNING": "green", "STOPPED": "red"}.get(self.status, "yellow")
        health = f" {self.health.lower()}" if self.health not in ("", "UNKNOWN") else ""
        line = (f"Task {self.short_id} on {self.instance_id or '?'} ({self.address or '?'}) "
                f"[{colour}]{self.status}[/]{health}")  # fmt: skip
        for c in self.containers:
            code = f" exit {c['exit_code']}" if c.get("exit_code") is not None else ""
            line += f"\n  {c['name']} {c['status']}{code}"
        if self.reason:
            line += f"\n  [red]{self.reason}[/]"
        return line


@dataclass(frozen=True)
class TasksReady(Event):
    """Every task reached RUNNING (and HEALTHY where the definition checks health)."""

    family: str
    tasks: list = field(default_factory=list)  # task ids

    def render_text(self) -> str:
        return f"[bold green]{len(self.tasks)} task(s) of {self.family} running[/]"


def cluster_of(ctx: Context) -> str:
    return stack_ops.outputs(stack_ops.required(ctx))["ClusterName"]


def instances(ctx: Context, cluster: str | None = None) -> list[dict]:
    """The cluster's ACTIVE container instances, with addresses, in a stable order."""
    found = stack_ops.container_instances(ctx, cluster or cluster_of(ctx))
    return sorted((i for i in found if i["status"] == "ACTIVE"),
                  key=lambda i: i["ec2_instance_id"])  # fmt: skip


def _state(task: dict, addresses: dict[str, tuple[str, str]]) -> TaskState:
    instance_id, address = addresses.get(task.get("containerInstanceArn", ""), ("", ""))
    containers = [{"name": c.get("name", ""), "status": c.get("lastStatus", ""),
                   "exit_code": c.get("exitCode"), "health": c.get("healthStatus", ""),
                   "reason": c.get("reason", "")}
                  for c in task.get("containers", [])]  # fmt: skip
    family = task.get("taskDefinitionArn", "").rsplit("/", 1)[-1].rsplit(":", 1)[0]
    return TaskState(task["taskArn"].rsplit("/", 1)[-1], instance_id, address,
                     task.get("lastStatus", ""), task.get("desiredStatus", ""),
                     task.get("healthStatus", "UNKNOWN"), containers,
                     task.get("stoppedReason", ""), family)  # fmt: skip


def _addresses(found: list[dict]) -> dict[str, tuple[str, str]]:
    """Container instance ARN -> (EC2 instance ID, address), for the task rows."""
    return {i["arn"]: (i["ec2_instance_id"], i.get("public_ip") or i.get("private_ip", ""))
            for i in found}  # fmt: skip


def listed(ctx: Context, kind: str | None = None, status: str = "RUNNING",
           cluster: str | None = None, found: list[dict] | None = None) -> list[TaskState]:
    """The workshop's tasks on the cluster (desired status RUNNING by default); `cluster`
    and `found` (its instances) spare the look-ups when the caller has them."""
    ecs, cluster = ctx.client("ecs"), cluster or cluster_of(ctx)
    arns = ecs.list_tasks(cluster=cluster, startedBy=STARTED_BY,
                          desiredStatus=status).get("taskArns", [])  # fmt: skip
    if not arns:
        return []
    addresses = _addresses(found if found is not None else instances(ctx, cluster))
    states = [_state(t, addresses) for t in ecs.describe_tasks(cluster=cluster,
                                                               tasks=arns)["tasks"]]  # fmt: skip
    if kind:
        states = [s for s in states if s.family == taskdef.family(ctx.state.stack_name, kind)]
    return states


def _failure_hint(state: TaskState) -> str:
    reason = state.reason
    if "CannotPullContainerError" in reason:
        return "The instance could not pull the image: push it again in Lab 2."
    if "OutOfMemory" in reason or any(c.get("exit_code") == 137 for c in state.containers):
        return "The container ran out of memory (or was killed): pick a larger instance type."
    if "127.0.0.0/8" in reason:
        return "Let the server listen on $DLWORKSHOP_BIND_ADDRESS."
    return "Read the task's log (Lab 3: Logs; CLI: `dlworkshop logs`), fix it, and run again."


def run(
    ctx: Context,
    kind: str = taskdef.SERVE,
    only: Sequence[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = FOLLOW_TIMEOUT,
) -> Iterator[Event]:
    """One task per container instance (or those in `only`), followed until each runs."""
    ready = yield from taskdef.register(ctx, kind)
    cluster = cluster_of(ctx)
    every = instances(ctx, cluster)
    targets = every
    if only:
        targets = [i for i in targets if i["ec2_instance_id"] in only]
        unknown = set(only) - {i["ec2_instance_id"] for i in targets}
        if unknown:
            yield Failed(f"{', '.join(sorted(unknown))} is not a container instance of the "
                         "cluster.", "Pick one that `dlworkshop stack status` lists.")  # fmt: skip
            return
    if not targets:
        yield Failed("The cluster has no container instances yet.",
                     "Wait for Lab 1's last checkpoint, then run again.")  # fmt: skip
        return
    ecs = ctx.client("ecs")
    running = {s.instance_id: s for s in listed(ctx, kind, cluster=cluster, found=every)}
    arns = []
    for inst in targets:
        if inst["ec2_instance_id"] in running:
            yield Log(f"{ready.family} already runs on {inst['ec2_instance_id']}: following it.")
            arns.append(running[inst["ec2_instance_id"]].task_id)
            continue
        answer = ecs.start_task(cluster=cluster, taskDefinition=ready.arn,
                                containerInstances=[inst["arn"]], startedBy=STARTED_BY)  # fmt: skip
        for failure in answer.get("failures", []):
            yield Failed(f"ECS could not start the task on {inst['ec2_instance_id']}: "
                         f"{failure.get('reason')}", "Stop other tasks on it, or pick another.")
            return
        arns += [t["taskArn"] for t in answer["tasks"]]
    yield from follow(ctx, arns, sleep=sleep, timeout=timeout, wants_health=kind == taskdef.SERVE,
                      cluster=cluster, found=every)
    yield TasksReady(ready.family, [a.rsplit("/", 1)[-1] for a in arns])


def follow(
    ctx: Context,
    tasks: Sequence[str],
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = FOLLOW_TIMEOUT,
    wants_health: bool = True,
    cluster: str | None = None,
    found: list[dict] | None = None,
) -> Iterator[Event]:
    """Yield each task's state when it changes, until all run (and are healthy); a task
    that stops is a Failed with its reason and what to do."""
    ecs, cluster = ctx.client("ecs"), cluster or cluster_of(ctx)
    addresses = _addresses(found if found is not None else instances(ctx, cluster))
    seen: dict[str, TaskState] = {}
    deadline = time.monotonic() + timeout
    delay = 1.0
    while True:
        described = ecs.describe_tasks(cluster=cluster, tasks=list(tasks))["tasks"]
        states = [_state(t, addresses) for t in described]
        changed = False
        for state in states:
            if seen.get(state.task_id) != state:
                seen[state.task_id] = state
                changed = True
                yield state
            if state.status == "STOPPED":
                yield Failed(f"Task {state.short_id} on {state.instance_id} stopped: "
                             f"{state.reason or 'no reason given'}", _failure_hint(state))
                return
        if states and all(s.status == "RUNNING" and (not wants_health or s.health == "HEALTHY")
                          for s in states):  # fmt: skip
            return
        if time.monotonic() > deadline:
            yield Failed(f"The tasks were not running after {timeout / 60:.0f} minutes.",
                         "See their state above; `dlworkshop logs` shows what they print.")
            return
        delay = 1.0 if changed else min(delay * 1.5, 5.0)
        sleep(delay)


def stop(ctx: Context, kind: str | None = None, sleep: Callable[[float], None] = time.sleep,
         timeout: float = 120) -> Iterator[Event]:  # fmt: skip
    """Stop the workshop's tasks (of one kind, or all) and wait until they are STOPPED."""
    states = listed(ctx, kind)
    if not states:
        yield Log("No workshop task is running.")
        return
    ecs, cluster = ctx.client("ecs"), cluster_of(ctx)
    for s in states:
        ecs.stop_task(cluster=cluster, task=s.task_id, reason="Stopped from dlworkshop")
        yield Log(f"Stopping task {s.short_id} on {s.instance_id}…")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = ecs.describe_tasks(cluster=cluster, tasks=[s.task_id for s in states])
        if all(t["lastStatus"] == "STOPPED" for t in described["tasks"]):
            yield Log(f"Stopped {len(states)} task(s).")
            return
        sleep(1.0)
    yield Failed("Some tasks did not stop in time.", "Run the stop again.")


def check_running(ctx: Context):
    """Checkpoint: a model-server task is RUNNING on the cluster and HEALTHY."""
    from dlworkshop.checkpoints import CheckResult

    states = listed(ctx, taskdef.SERVE)
    healthy = [s for s in states if s.status == "RUNNING" and s.health == "HEALTHY"]
    if healthy:
        where = ", ".join(f"{s.instance_id}" for s in healthy)
        return CheckResult.ok(f"{len(healthy)} model-server task(s) running and healthy on "
                              f"{where}")  # fmt: skip
    if states:
        return CheckResult.fail(f"Task {states[0].short_id} is {states[0].status}, health "
                                f"{states[0].health.lower()}: wait, or read its log.")  # fmt: skip
    return CheckResult.fail("No model-server task is running: run it in Lab 3.")
