"""Progress and settings, saved atomically and restored on restart."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from dlworkshop.atomic import write_atomic
from dlworkshop.errors import UserError
from dlworkshop.locks import held
from dlworkshop.paths import state_file

DEFAULT_STACK = "dlworkshop"


@dataclass
class State:
    """Everything dlworkshop remembers between runs."""

    mode: str | None = None
    profile: str | None = None
    region: str | None = None
    stack_name: str = DEFAULT_STACK
    key_path: str | None = None
    key_name: str | None = None
    # Whether dlworkshop created (or imported) that key pair: only then may cleanup delete it.
    key_created: bool = False
    current_lab: str | None = None
    # Labs the learner has opened: a lab's guide opens expanded only the first time.
    seen_labs: list[str] = field(default_factory=list)
    # progress[mode][checkpoint id] = {"status": "passed"|"failed"|"gone", "reason": str,
    # "at": float}
    progress: dict[str, dict[str, dict]] = field(default_factory=dict)
    # The running sandbox: {"pid", "endpoint", "started_at", "owner", "log"}.
    sandbox: dict | None = None
    # Other endpoints by name, e.g. "model_server": {"endpoint", "pid", "owner", ...}.
    services: dict[str, dict] = field(default_factory=dict)
    # spend[stack] = {"created": epoch, "params": {...}, "deleted": epoch | None}: what a
    # stack cost is still known after cleanup has deleted it.
    spend: dict[str, dict] = field(default_factory=dict)

    def results(self, mode: str) -> dict[str, dict]:
        """Checkpoint records for one mode (sandbox progress never counts on real AWS)."""
        return self.progress.get(mode, {})

    def record(self, mode: str, checkpoint_id: str, passed: bool, reason: str = "") -> None:
        """Remember one checkpoint's latest result.

        A pass that no longer holds is "gone", not "failed": the learner did the step, and
        what it made was deleted since (cleanup, another terminal, an expired resource).
        """
        records = self.progress.setdefault(mode, {})
        before = records.get(checkpoint_id, {}).get("status")
        status = "passed" if passed else ("gone" if before in ("passed", "gone") else "failed")
        records[checkpoint_id] = {"status": status, "reason": reason, "at": time.time()}

    def to_json(self) -> bytes:
        """Serialise for disk."""
        return (
            json.dumps({"version": 1, **asdict(self)}, indent=2, sort_keys=True) + "\n"
        ).encode()

    @classmethod
    def from_dict(cls, data: object) -> State:
        """Build from parsed JSON, raising ValueError if the shape is wrong."""
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        for name in ("mode", "profile", "region", "key_path", "key_name", "current_lab"):
            if getattr(state, name) is not None and not isinstance(getattr(state, name), str):
                raise ValueError(f"{name!r} is not a string")
        if not isinstance(state.seen_labs, list) or not all(
            isinstance(lab, str) for lab in state.seen_labs
        ):
            raise ValueError("'seen_labs' is not a list of lab names")
        if not isinstance(state.stack_name, str) or not state.stack_name:
            raise ValueError("'stack_name' is not a non-empty string")
        if not isinstance(state.progress, dict) or not all(
            isinstance(v, dict) and all(isinstance(r, dict) for r in v.values())
            for v in state.progress.values()
        ):
            raise ValueError("'progress' is not a mapping of mode to checkpoint records")
        if state.sandbox is not None and not isinstance(state.sandbox, dict):
            raise ValueError("'sandbox' is not an object")
        if not isinstance(state.services, dict) or not all(
            isinstance(v, dict) for v in state.services.values()
        ):
            raise ValueError("'services' is not a mapping of name to endpoint records")
        if not isinstance(state.key_created, bool):
            raise ValueError("'key_created' is not true or false")
        if not isinstance(state.spend, dict) or not all(
            isinstance(v, dict) for v in state.spend.values()
        ):
            raise ValueError("'spend' is not a mapping of stack to cost records")
        return state


@dataclass
class Loaded:
    """A loaded state plus the one-time warning about a corrupt file, if any."""

    state: State
    warning: str | None = None


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _locked(path: Path) -> contextlib.AbstractContextManager[None]:
    """Serialise read-modify-write between the TUI, the CLI and the sandbox process."""
    return held(_lock_path(path))


def _why(exc: BaseException) -> str:
    """Why a state file could not be read, in words."""
    if isinstance(exc, IsADirectoryError):
        return "it is a directory, not a file"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply to be dlworkshop's"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def _read(path: Path) -> Loaded:
    try:
        return Loaded(State.from_dict(json.loads(path.read_bytes())))
    except FileNotFoundError:
        return Loaded(State())
    except Exception as exc:  # any unreadable state, whatever the cause, is set aside
        why = _why(exc)
    # Keep the bad file (or directory) for the user to inspect; never delete their data.
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    n = 1
    while aside.exists():
        n += 1
        aside = aside.with_name(f"{aside.name.split('~')[0]}~{n}")
    try:
        path.rename(aside)
    except OSError as exc:
        raise UserError(
            f"Your saved progress in {path} could not be read ({why}), and it could not be "
            f"moved aside ({exc.strerror or exc}). Move or delete it, then try again."
        ) from None
    return Loaded(
        State(),
        f"Your saved progress in {path} could not be read ({why}). "
        f"It was moved to {aside} and dlworkshop started fresh.",
    )


def load(path: Path | None = None) -> Loaded:
    """Load the state; a corrupt file is moved aside and reported once."""
    path = path or state_file()
    with _locked(path):
        return _read(path)


def save(state: State, path: Path | None = None) -> None:
    """Write the whole state atomically."""
    path = path or state_file()
    with _locked(path):
        write_atomic(path, state.to_json())


def update(change: Callable[[State], None], path: Path | None = None) -> State:
    """Apply `change` to the state on disk under a lock, and save it atomically."""
    path = path or state_file()
    with _locked(path):
        state = _read(path).state
        change(state)
        write_atomic(path, state.to_json())
        return state
