"""A live list of a lab's checkpoints: pending, running, passed, or failed with the reason."""

from __future__ import annotations

from rich.text import Text
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from dlworkshop.checkpoints import Checkpoint

PENDING, RUNNING, PASSED, FAILED, UNBUILT, GONE = (
    "pending", "running", "passed", "failed", "unbuilt", "gone")  # fmt: skip
_LOOK = {
    PENDING: ("○", "", "pending"),
    RUNNING: ("◔", "bold yellow", "running…"),
    PASSED: ("✔", "bold green", "passed"),
    FAILED: ("✘", "bold red", "failed"),
    UNBUILT: ("·", "dim", "check not built yet"),
    # Passed once, but what it made is gone since (deleted, stopped): not the learner's fault.
    GONE: ("↺", "bold yellow", "was passed, now gone"),
}


class CheckpointRow(Static):
    """One checkpoint with its status and, when there is one, the reason."""

    # layout=True: a longer reason needs more lines, so the row must be measured again
    # (without it a detail was cut to the height of the text before it arrived).
    status: reactive[str] = reactive(PENDING, layout=True)
    reason: reactive[str] = reactive("", layout=True)

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__(id=f"cp-{checkpoint.id.replace('.', '-')}", classes="checkpoint")
        self.checkpoint = checkpoint
        if not checkpoint.available:
            self.set_reactive(CheckpointRow.status, UNBUILT)

    def render(self) -> Text:
        icon, style, word = _LOOK[self.status]
        text = Text()
        text.append(f"{icon} ", style=style or None)
        text.append(self.checkpoint.title, style="dim" if self.status == UNBUILT else "")
        text.append(f"\n  {word}", style=style or "dim")
        if self.reason:
            text.append(f": {self.reason}", style="red" if self.status == FAILED else "dim")
        return text

    def watch_status(self, status: str) -> None:
        for name in _LOOK:
            self.set_class(name == status, f"-{name}")

    def show(self, status: str, reason: str = "") -> None:
        """Update the status and reason together."""
        self.reason = reason
        self.status = status


class CheckpointList(Vertical):
    """The checkpoints of one lab."""

    def __init__(self, checkpoints: list[Checkpoint], **kwargs) -> None:
        super().__init__(**kwargs)
        self.checkpoints = checkpoints

    def compose(self):
        yield Static("Checkpoints", classes="panel-title")
        if not self.checkpoints:
            yield Static("This lab has no checkpoints.", classes="dim")
        for cp in self.checkpoints:
            yield CheckpointRow(cp)

    def row(self, checkpoint_id: str) -> CheckpointRow:
        """The row showing one checkpoint."""
        return self.query_one(f"#cp-{checkpoint_id.replace('.', '-')}", CheckpointRow)
