"""Typed events that long operations yield; the TUI and the CLI render them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Event:
    """Base of every event; `type` is the snake_case class name unless a subclass sets it."""

    type_name: ClassVar[str | None] = None

    @property
    def type(self) -> str:
        return self.type_name or _snake(type(self).__name__)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a leading "type" field."""
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True)
class Log(Event):
    """A line of text for the user; level is info, warning or error."""

    message: str
    level: str = "info"


@dataclass(frozen=True)
class Progress(Event):
    """How far a long operation has got."""

    done: float
    total: float | None = None
    label: str = ""


@dataclass(frozen=True)
class Failed(Event):
    """An operation failed; `hint` says what to do about it."""

    message: str
    hint: str = ""
