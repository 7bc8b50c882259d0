"""Cleanup: delete what the workshop made, prove nothing is left, and say what it cost."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Label, RichLog, Static, Switch

from dlworkshop.tui.screens.lab import LabAction, LabView


class CleanupEvent(Message):
    """One event from the cleanup stream."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class CleanupFinished(Message):
    """The cleanup (or dry run, or verification) ended."""


class CleanupView(LabView):
    """Clean up, a dry run, a verification, and the list of what is left."""

    built = True

    def compose_actions(self) -> Iterator:
        yield Static("Delete everything the workshop made, in order, then look for anything "
                     "left. Safe to run again: it picks up where it stopped.",
                     classes="dim")  # fmt: skip
        with Horizontal(classes="cu-switches"):
            yield Label("Keep key pair")
            yield Switch(False, id="cu-keep-key")
        with Horizontal(classes="cu-switches"):
            yield Label("Remove images")
            yield Switch(False, id="cu-images")
        yield Button("Clean up (c)", id="cu-run", variant="error", classes="cu-button")
        yield Button("What would go (w)", id="cu-dry", classes="cu-button")
        yield Button("Verify (v)", id="cu-verify", classes="cu-button")
        yield RichLog(id="cu-log", wrap=True, markup=True, max_lines=400, min_width=20)
        yield Static("", id="cu-summary", classes="outputs")

    def actions(self) -> list[LabAction]:
        return [
            LabAction("Cleanup: delete everything", "Stop, delete and verify",
                      self.start_cleanup),
            LabAction("Cleanup: what would go", "A dry run; nothing changes",
                      self.start_dry_run),
            LabAction("Cleanup: verify", "Look for anything the workshop left",
                      self.start_verify),
        ]  # fmt: skip

    # ----- actions --------------------------------------------------------------------
    @on(Button.Pressed, "#cu-run")
    def _run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_cleanup()

    @on(Button.Pressed, "#cu-dry")
    def _dry_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_dry_run()

    @on(Button.Pressed, "#cu-verify")
    def _verify_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_verify()

    def _ready(self) -> bool:
        if self.host.ctx is None:
            self.app.notify("Still connecting; try again in a moment.", severity="warning")
            return False
        return True

    def start_cleanup(self) -> None:
        if not self._ready():
            return
        from dlworkshop.tui.screens.confirm import Confirm

        stack = self.ctx.state.stack_name
        keep = self.query_one("#cu-keep-key", Switch).value

        def answered(yes: bool | None) -> None:
            if yes:
                self._begin("Cleaning up…")
                self._cleanup(dry_run=False)

        self.app.push_screen(Confirm(
            f"Delete the stack {stack}, its tasks, images and data"
            + ("" if keep else ", and the key pair dlworkshop made") + "?",
            "Delete", "Keep"), answered)  # fmt: skip

    def start_dry_run(self) -> None:
        if self._ready():
            self._begin("What cleanup would delete (nothing changes):")
            self._cleanup(dry_run=True)

    def start_verify(self) -> None:
        if self._ready():
            self._begin("Looking for anything the workshop left…")
            self._verify()

    def _begin(self, title: str) -> None:
        log = self.query_one("#cu-log", RichLog)
        log.clear()
        log.write(f"[bold]{title}[/]")
        self.query_one("#cu-summary", Static).update("")

    @work(thread=True, group="work-cleanup", exclusive=True)
    def _cleanup(self, dry_run: bool) -> None:
        from dlworkshop.aws import cleanup

        keep = self.query_one("#cu-keep-key", Switch).value
        images = self.query_one("#cu-images", Switch).value
        # The confirmation named the key pair already (or the switch keeps it): no second
        # question; the local images follow their switch.
        self._relay(cleanup.run(self.ctx, lambda *a: True, keep, dry_run, images))

    @work(thread=True, group="work-cleanup", exclusive=True)
    def _verify(self) -> None:
        from dlworkshop.aws import cleanup

        keep = self.query_one("#cu-keep-key", Switch).value

        def verified():
            left = cleanup.leftovers(self.ctx, keep_key=keep)
            yield from left
            yield cleanup.CleanupSummary(self.ctx.state.stack_name, False, [],
                                         [x.to_dict() for x in left])  # fmt: skip

        self._relay(verified())

    def _relay(self, events) -> None:
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        try:
            for event in events:
                self.post_message(CleanupEvent(event))
        except Exception as exc:  # shown, never raised
            self.post_message(CleanupEvent(Failed(explain(exc))))
        self.post_message(CleanupFinished())

    # ----- showing events -------------------------------------------------------------
    def on_cleanup_event(self, message: CleanupEvent) -> None:
        from dlworkshop.aws.cleanup import CleanupSummary
        from dlworkshop.aws.stack_events import ResourceEvent
        from dlworkshop.events import Failed, Log

        event = message.event
        log = self.query_one("#cu-log", RichLog)
        if isinstance(event, ResourceEvent) and not event.failed:
            return  # the stack's resources going one by one: Lab 1's tree shows those
        if isinstance(event, CleanupSummary):
            self.show_summary(event)
            return
        if isinstance(event, Failed):
            self.app.notify(event.message, title="Cleanup", severity="error", timeout=12)
            log.write(Text(f"{event.message} {event.hint}".strip(), style="bold red"))
        elif isinstance(event, Log):
            log.write(Text(event.message, style="yellow" if event.level == "warning" else ""))
        elif hasattr(event, "render_text"):
            log.write(event.render_text())

    def show_summary(self, summary) -> None:
        text = Text()
        if summary.dry_run:
            text.append(f"{len(summary.deleted)} things would be deleted.", style="bold")
        elif summary.leftover:
            text.append(f"{len(summary.leftover)} left:\n", style="bold red")
            for x in summary.leftover:
                text.append(f"• {x['kind']} {x['name']}\n  {x['fix']}\n")
        else:
            text.append("Nothing is left running or billing.", style="bold green")
        if summary.cost:
            text.append(f"\nThe workshop cost about ${summary.cost['dollars']:.2f} over "
                        f"{summary.cost['hours']:.1f} h ({summary.cost['source']}).")
        self.query_one("#cu-summary", Static).update(text)

    def on_cleanup_finished(self, message: CleanupFinished) -> None:
        self.host.run_checks(self.lab.id)
        self.host.recheck_passes()  # what cleanup deleted shows as gone in the other labs
