"""Lab 2: build the MXNet image and follow the build step by step."""

from __future__ import annotations

from collections.abc import Iterator

from textual import on, work
from textual.message import Message
from textual.widgets import Button, ProgressBar, RichLog, Static

from dlworkshop.tui.screens.lab import LabAction, LabView


class BuildEvent(Message):
    """One event from the image build."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class BuildFinished(Message):
    pass


class Lab2View(LabView):
    """A Build action with a step progress bar, the build log and the image's size."""

    built = True

    def compose_actions(self) -> Iterator:
        yield Static(
            "Build streams every step of the Dockerfile here. Opening a shell in the "
            "container and pushing to ECR are not built into the app yet.",
            classes="dim",
        )
        yield Button("Build image", id="l2-build", variant="primary")
        yield Static("", id="l2-step")
        yield ProgressBar(id="l2-progress", show_eta=False)
        yield Static("", id="l2-result")
        yield RichLog(id="l2-log", wrap=True, markup=True, max_lines=400, min_width=20)

    def on_mount(self) -> None:
        # Until a build starts there is nothing to show: keep the checkpoints in view.
        self.query_one("#l2-progress").display = False
        self.query_one("#l2-log").display = False

    def actions(self) -> list[LabAction]:
        return [LabAction("Lab 2: build the image", "Build the MXNet image, streamed",
                          self.start_build)]  # fmt: skip

    @on(Button.Pressed, "#l2-build")
    def _build_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_build()

    def start_build(self) -> None:
        log = self.query_one("#l2-log", RichLog)
        log.clear()
        log.display = True
        self.query_one("#l2-result", Static).update("")
        self.query_one("#l2-step", Static).update("Connecting to the Docker engine…")
        bar = self.query_one("#l2-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._build()

    @work(thread=True, group="work-lab2", exclusive=True)
    def _build(self) -> None:
        from dlworkshop.container import build, engine
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        try:
            for event in build.build(engine.client()):
                self.post_message(BuildEvent(event))
        except Exception as exc:  # no engine, a dropped connection: say what happened
            self.post_message(BuildEvent(Failed(explain(exc))))
        self.post_message(BuildFinished())

    def on_build_event(self, message: BuildEvent) -> None:
        from dlworkshop.container.build import BuildDone, BuildLine, BuildStep
        from dlworkshop.events import Failed, Log

        event = message.event
        log = self.query_one("#l2-log", RichLog)
        if isinstance(event, BuildStep):
            self.query_one("#l2-step", Static).update(
                f"Step {event.step} of {event.total}: {event.instruction[:80]}")  # fmt: skip
            self.query_one("#l2-progress", ProgressBar).update(
                total=event.total, progress=event.step - 1
            )
            log.write(event.render_text())
        elif isinstance(event, BuildLine):
            log.write(event.text, shrink=False)
        elif isinstance(event, BuildDone):
            bar = self.query_one("#l2-progress", ProgressBar)
            bar.update(progress=bar.total or 1)
            self.query_one("#l2-step", Static).update("Done.")
            self.query_one("#l2-result", Static).update(
                f"[b green]Built[/] {event.tag}: {event.size_mb:.0f} MB in {event.seconds:.0f} s"
            )
        elif isinstance(event, Failed):
            self.query_one("#l2-step", Static).update(f"[b red]{event.message}[/]")
            self.app.notify(event.message, title="Lab 2", severity="error", timeout=12)
        elif isinstance(event, Log):
            log.write(event.message)

    def on_build_finished(self, message: BuildFinished) -> None:
        self.app.run_checks(self.lab.id)
