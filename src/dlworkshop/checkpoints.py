"""The checkpoint registry: every lab step is verified by a real check."""

from __future__ import annotations

import importlib
from collections.abc import Callable
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

    @property
    def available(self) -> bool:
        return self.check is not None

    def resolve(self) -> CheckFn:
        """The check function itself."""
        if self.check is None:
            raise LookupError(f"checkpoint {self.id!r} has no check yet")
        if callable(self.check):
            return self.check
        module, _, name = self.check.partition(":")
        return getattr(importlib.import_module(module), name)


_REGISTRY: dict[str, Checkpoint] = {}


def register(checkpoint: Checkpoint) -> Checkpoint:
    """Add or replace a checkpoint (later labs replace their placeholders with real checks)."""
    _REGISTRY[checkpoint.id] = checkpoint
    return checkpoint


def unregister(checkpoint_id: str) -> None:
    """Remove a checkpoint (tests use this to clean up)."""
    _REGISTRY.pop(checkpoint_id, None)


def _load_labs() -> None:
    # The labs register their checkpoints when imported; make sure they have been.
    import dlworkshop.labs  # noqa: F401


def get(checkpoint_id: str) -> Checkpoint:
    """One checkpoint by id."""
    _load_labs()
    return _REGISTRY[checkpoint_id]


def for_lab(lab_id: str) -> list[Checkpoint]:
    """A lab's checkpoints, in registration order."""
    _load_labs()
    return [c for c in _REGISTRY.values() if c.lab == lab_id]


def run(checkpoint: Checkpoint, ctx: Context) -> CheckResult:
    """Run a check; any exception becomes a failure whose reason says what went wrong."""
    try:
        result = checkpoint.resolve()(ctx)
    except Exception as exc:  # a check must never crash its caller
        from dlworkshop.errors import explain

        return CheckResult.fail(explain(exc))
    if not isinstance(result, CheckResult):
        return CheckResult.fail(f"check returned {result!r}, not a CheckResult")
    return result
