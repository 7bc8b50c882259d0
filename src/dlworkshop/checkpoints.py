"""The checkpoint registry: every lab step is verified by a real check."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlworkshop.context import Context


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: passed, or failed with a reason."""

    passed: bool
    reason: str = ""

    @classmethod
    def ok(cls, reason: str = "") -> CheckResult:
        return cls(True, reason)

    @classmethod
    def fail(cls, reason: str) -> CheckResult:
        return cls(False, reason)


CheckFn = Callable[["Context"], CheckResult]


@dataclass(frozen=True)
class Checkpoint:
    """One verifiable step of a lab.

    `check` is a callable or a "module:function" path, imported only when the check runs
    so that heavy SDKs stay out of the app's start-up. None means not built yet.
    """

    id: str
    lab: str
    title: str
    check: CheckFn | str | None = None
    # A cheap check that the claim still holds (the resource behind a pass is still there),
    # run on start and on demand; None: the check itself is cheap enough.
    recheck: CheckFn | str | None = None

    @property
    def available(self) -> bool:
        return self.check is not None

    def resolve(self, recheck: bool = False) -> CheckFn:
        """The check function itself (or its cheap recheck)."""
        check = (self.recheck or self.check) if recheck else self.check
        if check is None:
            raise LookupError(f"checkpoint {self.id!r} has no check yet")
        if callable(check):
            return check
        module, _, name = check.partition(":")
        return getattr(importlib.import_module(module), name)


_REGISTRY: dict[str, Checkpoint] = {}


def register(checkpoint: Checkpoint) -> Checkpoint:
    """Add or replace a checkpoint (later labs replace their placeholders with real checks)."""
    _REGISTRY[checkpoint.id] = checkpoint
    return checkpoint


def unregister(checkpoint_id: str) -> None:
    """Remove a checkpoint (tests use this to clean up)."""
    _REGISTRY.pop(checkpoint_id, None)


def get(checkpoint_id: str) -> Checkpoint:
    """One checkpoint by id."""
    return _REGISTRY[checkpoint_id]


def for_lab(lab_id: str) -> list[Checkpoint]:
    """A lab's checkpoints, in registration order."""
    return [c for c in _REGISTRY.values() if c.lab == lab_id]


def run(checkpoint: Checkpoint, ctx: Context, recheck: bool = False) -> CheckResult:
    """Run a check; any exception becomes a failure whose reason says what went wrong."""
    try:
        result = checkpoint.resolve(recheck)(ctx)
    except Exception as exc:  # a check must never crash its caller
        from dlworkshop.errors import explain

        return CheckResult.fail(explain(exc))
    if not isinstance(result, CheckResult):
        return CheckResult.fail(f"check returned {result!r}, not a CheckResult")
    return result


def still_true(
    ctx: Context, lab_ids: list[str] | None = None
) -> Iterator[tuple[Checkpoint, CheckResult]]:
    """Recheck every passed checkpoint (of these labs) cheaply; yields those that no longer
    hold, for the caller to record (as "gone")."""
    results = ctx.state.results(ctx.target.mode)
    if not any(r.get("status") == "passed" for r in results.values()):
        return
    if not run(get("overview.credentials"), ctx).passed:
        return  # cannot look: expired credentials say nothing about what exists
    for cp in list(_REGISTRY.values()):
        if lab_ids is not None and cp.lab not in lab_ids:
            continue
        if not cp.available or results.get(cp.id, {}).get("status") != "passed":
            continue
        result = run(cp, ctx, recheck=True)
        if not result.passed:
            yield cp, result


# The checkpoints every lab will verify. A None check is one whose lab is not built yet:
# the screen says so instead of pretending. Later labs register their real checks.
for _cp in (
    Checkpoint(
        "overview.credentials",
        "overview",
        "AWS credentials work",
        "dlworkshop.aws.identity:check_credentials",
    ),
    Checkpoint(
        "overview.region",
        "overview",
        "The region is one your account can use",
        "dlworkshop.aws.identity:check_region",
    ),
    Checkpoint(
        "lab1.stack",
        "lab1",
        "Stack is CREATE_COMPLETE with its outputs",
        "dlworkshop.aws.stack_checks:check_stack",
    ),
    Checkpoint(
        "lab1.instances",
        "lab1",
        "The cluster has its registered container instances",
        "dlworkshop.aws.stack_checks:check_instances",
    ),
    Checkpoint("lab2.built", "lab2", "Image built", "dlworkshop.container.run:check_built"),
    Checkpoint(
        "lab2.runs",
        "lab2",
        "The container runs MXNet",
        "dlworkshop.container.run:check_runs_mxnet",
        "dlworkshop.container.run:check_built",
    ),
    Checkpoint(
        "lab2.pushed", "lab2", "Image pushed to ECR", "dlworkshop.aws.registry:check_pushed"
    ),
    Checkpoint(
        "lab3.taskdef",
        "lab3",
        "Task definition registered",
        "dlworkshop.aws.taskdef:check_registered",
    ),
    Checkpoint(
        "lab3.running", "lab3", "The task runs on the cluster", "dlworkshop.aws.tasks:check_running"
    ),
    Checkpoint(
        "lab3.tunnel",
        "lab3",
        "SSH tunnel to the container instance is open",
        "dlworkshop.remote.forwards:check_tunnel",
    ),
    Checkpoint(
        "lab3.mesh",
        "lab3",
        "The instances can reach each other",
        "dlworkshop.remote.instances:check_mesh",
        "dlworkshop.aws.tasks:check_running",
    ),
    Checkpoint(
        "lab4.cat",
        "lab4",
        "The endpoint classifies the sample cat as a cat",
        "dlworkshop.classifier.checks:check_sample_cat",
        "dlworkshop.classifier.checks:check_serving",
    ),
    Checkpoint(
        "cleanup.empty",
        "cleanup",
        "Nothing is left running or billing",
        "dlworkshop.aws.cleanup:check_empty",
    ),
    Checkpoint("appendix.gpu", "appendix", "MXNet runs on a GPU instance",
               "dlworkshop.aws.gpu:check_gpu", "dlworkshop.aws.gpu:recheck_gpu"),
    Checkpoint("appendix.mf", "appendix", "Matrix factorisation model trained",
               "dlworkshop.classifier.recommend:check_trained"),
    Checkpoint("appendix.dist", "appendix", "Distributed training ran on both instances",
               "dlworkshop.aws.distributed:check_ran"),
):
    register(_cp)
