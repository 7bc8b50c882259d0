"""The whole workshop, headless: every lab's actions and checkpoints in order, then cleanup.

For instructors before a workshop (does this account, region and quota work?) and for
CI. It stops at the first failed checkpoint with its reason, and always ends with one
summary of every checkpoint, what is left and what it cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dlworkshop import checkpoints, labs
from dlworkshop import state as state_store
from dlworkshop.context import Context
from dlworkshop.events import Event, Failed, Log

ORDER = ("overview", "lab1", "lab2", "lab3", "lab4", "cleanup")


@dataclass(frozen=True)
class LabStarted(Event):
    """A lab begins."""

    lab: str
    title: str

    def render_text(self) -> str:
        return f"\n[bold reverse] {self.title} [/]"


@dataclass(frozen=True)
class CheckpointResult(Event):
    """One checkpoint, checked for real."""

    lab: str
    id: str
    title: str
    passed: bool
    detail: str
    seconds: float

    def render_text(self) -> str:
        mark = "[green]✔[/]" if self.passed else "[red]✘[/]"
        return f"{mark} {self.title} ({self.seconds:.1f} s): {self.detail}"


@dataclass(frozen=True)
class WorkshopSummary(Event):
    """Every checkpoint, what is left, what it cost, how long it took."""

    type_name = "summary"
    checkpoints: list = field(default_factory=list)
    leftover: list = field(default_factory=list)
    cost: dict | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checkpoints) and all(c["passed"] for c in self.checkpoints)

    def render_text(self) -> str:
        done = sum(c["passed"] for c in self.checkpoints)
        verdict = "[green]every checkpoint passed[/]" if self.passed else "[red]stopped[/]"
        lines = [f"\n[bold]Workshop[/] {verdict}: {done} of {len(self.checkpoints)} "
                 f"checkpoints in {self.seconds:.0f} s"]  # fmt: skip
        lines.append("  Nothing left running or billing." if not self.leftover else
                     f"  [red]{len(self.leftover)} left[/]: run `dlworkshop cleanup`.")
        if self.cost:
            lines.append(f"  Cost about ${self.cost['dollars']:.2f} ({self.cost['source']}).")
        return "\n".join(lines)


class Stop(Exception):
    """A checkpoint or an action failed: the workshop stops here."""


@dataclass
class Run:
    """One workshop run: its context, its options and what it has found so far."""

    ctx: Context
    params: dict[str, str]
    keep: bool = False
    results: list[CheckpointResult] = field(default_factory=list)
    tunnel: object | None = None
    cleanup_summary: object | None = None

    def check(self, lab: str) -> Iterator[Event]:
        """Run a lab's checkpoints; stop at the first that fails."""
        for cp in checkpoints.for_lab(lab):
            if not cp.available:
                continue
            start = time.monotonic()
            result = checkpoints.run(cp, self.ctx)
            mode = self.ctx.target.mode

            def record(s: state_store.State, r=result, cp_id=cp.id, m=mode) -> None:
                s.record(m, cp_id, r.passed, r.reason)

            record(self.ctx.state)
            state_store.update(record)
            event = CheckpointResult(labs.BY_ID[lab].name, cp.id, cp.title, result.passed,
                                     result.reason, round(time.monotonic() - start, 2))  # fmt: skip
            self.results.append(event)
            yield event
            if not result.passed:
                raise Stop(f"{cp.title}: {result.reason}")

    def act(self, events: Iterator[Event]) -> Iterator[Event]:
        """Pass an action's events on; a Failed one stops the workshop."""
        for event in events:
            yield event
            if isinstance(event, Failed):
                raise Stop(event.message)


# ---- each lab's actions --------------------------------------------------------------
def _overview(run: Run) -> Iterator[Event]:
    from dlworkshop.aws import quotas

    config = run.params
    check = quotas.check_vcpus(run.ctx, config.get("InstanceType", "m5.large"),
                               int(config.get("InstanceCount", "2")),
                               config.get("UseSpot") == "true")  # fmt: skip
    yield check
    if not check.ok:
        raise Stop(check.message)


def _lab1(run: Run) -> Iterator[Event]:
    from dlworkshop.aws import deploy_flow, network

    ctx, params = run.ctx, dict(run.params)
    stack = ctx.state.stack_name
    if "SourceCidr" not in params:
        cidr, how = network.default_source_cidr(ctx)
        if cidr is None:
            raise Stop(f"SourceCidr: {how}; pass --param SourceCidr=ADDRESS/32")
        params["SourceCidr"] = cidr
    params.setdefault("KeyName", ctx.state.key_name or f"{stack}-key")
    yield from run.act(deploy_flow.deploy(ctx, stack, params, lambda *a: True, "reuse"))


def _lab2(run: Run) -> Iterator[Event]:
    from dlworkshop.container import build, engine, push

    client = engine.client()
    yield from run.act(build.build(client))
    yield from run.act(push.push(client, run.ctx))


def _lab3(run: Run) -> Iterator[Event]:
    from dlworkshop.aws import logs, taskdef, tasks
    from dlworkshop.remote import forwards

    yield from run.act(taskdef.register(run.ctx, taskdef.SERVE))
    yield from run.act(tasks.run(run.ctx, taskdef.SERVE))
    tunnel, opened = forwards.open_tunnel(run.ctx, None, (forwards.SERVE_PORT,),
                                          owner="workshop")  # fmt: skip
    run.tunnel = tunnel
    yield opened
    lines = list(logs.follow(run.ctx, f"{taskdef.SERVE}/", 3600, keep_following=False))
    yield Log(f"Read {len(lines)} line(s) of the tasks' logs from CloudWatch Logs.")


def _lab4(run: Run) -> Iterator[Event]:
    from dlworkshop.classifier.train import Options, TrainProgress, train

    yield Log("Training one short epoch (the MLP on Fashion-MNIST), then classifying the "
              "sample cat through the SSH tunnel, on the cluster.")  # fmt: skip
    try:
        for event in train(Options(network="mlp", epochs=1)):
            if not isinstance(event, TrainProgress):
                yield event
    except Exception as exc:
        from dlworkshop.errors import explain

        raise Stop(f"Training failed: {explain(exc)}") from None


def _cleanup(run: Run) -> Iterator[Event]:
    from dlworkshop.aws import cleanup

    for event in cleanup.run(run.ctx, lambda *a: True, keep_key=False, remove_images=False):
        if isinstance(event, cleanup.CleanupSummary):
            run.cleanup_summary = event
        yield event


ACTIONS: dict[str, Callable[[Run], Iterator[Event]]] = {
    "overview": _overview, "lab1": _lab1, "lab2": _lab2, "lab3": _lab3, "lab4": _lab4,
    "cleanup": _cleanup,
}  # fmt: skip


def run(ctx: Context, params: dict[str, str] | None = None, keep: bool = False,
        from_lab: str = "overview") -> Iterator[Event]:  # fmt: skip
    """Every lab from `from_lab` on, then cleanup unless `keep`; ends with the summary."""
    from dlworkshop.aws import cleanup

    if from_lab not in ORDER:
        raise ValueError(f"--from takes one of {', '.join(ORDER)}")
    started = time.monotonic()
    this = Run(ctx, dict(params or {}), keep)
    order = ORDER[ORDER.index(from_lab):]
    if keep:
        order = tuple(lab for lab in order if lab != "cleanup")
    stopped = ""
    try:
        for lab in order:
            yield LabStarted(lab, labs.BY_ID[lab].label)
            yield from ACTIONS[lab](this)
            yield from this.check(lab)
    except Stop as why:
        stopped = str(why)
    finally:
        if this.tunnel is not None:
            this.tunnel.close()  # type: ignore[attr-defined]
            import os

            from dlworkshop.remote import forwards

            forwards.forget(os.getpid())
    if stopped:
        yield Failed(f"The workshop stopped: {stopped}",
                     "Fix the cause, then run again with --from at that lab; "
                     "`dlworkshop cleanup` deletes what was made.")  # fmt: skip
    summary = this.cleanup_summary
    if summary is not None:
        left, cost = summary.leftover, summary.cost  # type: ignore[attr-defined]
    else:
        left = [x.to_dict() for x in cleanup.leftovers(ctx)]
        cost = _spent(ctx)
    rows = [{k: v for k, v in r.to_dict().items() if k != "type"} for r in this.results]
    yield WorkshopSummary(rows, left, cost, round(time.monotonic() - started, 1))


def _spent(ctx: Context) -> dict | None:
    from dlworkshop.aws import cost
    from dlworkshop.aws import stack as stack_ops

    description = stack_ops.describe(ctx, ctx.state.stack_name)
    if description is None:
        return None
    spent = cost.stack_spent(ctx, description)
    return {"dollars": spent.dollars, "hours": spent.hours, "source": spent.source}
