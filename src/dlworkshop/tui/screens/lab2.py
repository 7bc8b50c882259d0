"""Lab 2: build the MXNet image, open a shell in it, and push it to ECR."""

from __future__ import annotations

from collections.abc import Iterator

from textual import on, work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, ProgressBar, RichLog, Static

from dlworkshop.tui.screens.lab import LabAction, LabView

SHELL_BANNER = (
    "Type `exit` (or Ctrl+D) to return to dlworkshop.\n"
    "Try: python -c 'import mxnet; print(mxnet.__version__)'"
)


class WorkEvent(Message):
    """One event from a build, a push or the shell check."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event


class WorkFinished(Message):
    """A build or a push ended (either way): time to run the checkpoints."""


class ShellReady(Message):
    """The docker command line for the shell, checked off the UI thread."""

    def __init__(self, line: list[str], env: dict[str, str]) -> None:
        super().__init__()
        self.line = line
        self.env = env


class LayerRow(Horizontal):
    """One layer of a push: its ID and state, and a bar of the bytes sent."""

    def __init__(self, layer: str) -> None:
        super().__init__(classes="l2-layer")
        self.layer_id = layer  # not `layer`: widgets have a property of that name
        self._event = None

    def compose(self) -> Iterator:
        yield Static(self.layer_id, classes="l2-layer-label")
        yield ProgressBar(show_eta=False, show_percentage=True, classes="l2-layer-bar")

    def show(self, event) -> None:
        """Show the layer's latest event (kept until the row is mounted)."""
        self._event = event
        if self.is_mounted:
            self._apply()

    def on_mount(self) -> None:
        self._apply()

    def _apply(self) -> None:
        event = self._event
        if event is None:
            return
        self.tooltip = f"{self.layer_id}: {event.status}"
        bar = self.query_one(ProgressBar)
        if event.done:
            bar.update(total=bar.total or 1, progress=bar.total or 1)
        elif event.total:
            bar.update(total=event.total, progress=event.current)


class Lab2View(LabView):
    """Build (step bar and log), Open shell (the app suspends), Push (a bar per layer)."""

    built = True
    running: str | None = None  # what the lab is doing: one thing at a time

    def _claim(self, what: str) -> bool:
        """Start `what` unless something else runs (a push mid-build would push the old image)."""
        if self.running:
            self.app.notify(f"{self.running} is still running: wait for it to finish.",
                            title="Lab 2", severity="warning")  # fmt: skip
            return False
        self.running = what
        return True

    def compose_actions(self) -> Iterator:
        yield Static(
            "Build streams every step of the Dockerfile. Open shell runs bash in the image "
            "(the app steps aside until you exit). Push sends it to the stack's ECR repository.",
            classes="dim",
        )
        # Compact (one line each): three bordered buttons would push the checkpoints away.
        yield Button("Build image (b)", id="l2-build", variant="primary", compact=True)
        yield Button("Open shell (h)", id="l2-shell", compact=True)
        yield Button("Push to ECR (u)", id="l2-push", variant="success", compact=True)
        yield Static("", id="l2-step")
        yield ProgressBar(id="l2-progress", show_eta=False)
        yield Static("", id="l2-result")
        yield Vertical(id="l2-layers")
        yield Static("", id="l2-digest")
        yield RichLog(id="l2-log", wrap=True, markup=True, max_lines=400, min_width=20)

    def on_mount(self) -> None:
        # Until work starts there is nothing to show: keep the checkpoints in view.
        for selector in ("#l2-progress", "#l2-log", "#l2-layers", "#l2-step", "#l2-result",
                         "#l2-digest"):  # fmt: skip
            self.query_one(selector).display = False

    def _say(self, selector: str, text: str) -> None:
        """Show `text` in one of the message lines; an empty one takes no room."""
        line = self.query_one(selector, Static)
        line.update(text)
        line.display = bool(text)

    def actions(self) -> list[LabAction]:
        return [
            LabAction("Lab 2: build the image", "Build the MXNet image, streamed",
                      self.start_build),
            LabAction("Lab 2: open a shell in the image", "docker run -it --rm IMAGE bash",
                      self.open_shell),
            LabAction("Lab 2: push the image to ECR", "Push with per-layer progress",
                      self.start_push),
        ]  # fmt: skip

    @on(Button.Pressed, "#l2-build")
    def _build_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_build()

    @on(Button.Pressed, "#l2-shell")
    def _shell_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.open_shell()

    @on(Button.Pressed, "#l2-push")
    def _push_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start_push()

    # ----- build ---------------------------------------------------------------------
    def _begin(self, message: str) -> None:
        log = self.query_one("#l2-log", RichLog)
        log.clear()
        log.display = True
        self._say("#l2-step", message)

    def start_build(self) -> None:
        if not self._claim("The build"):
            return
        self._begin("Connecting to the Docker engine…")
        self._say("#l2-result", "")
        bar = self.query_one("#l2-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._build()

    @work(thread=True, group="work-lab2", exclusive=True)
    def _build(self) -> None:
        from dlworkshop.container import build, engine

        self._relay(lambda: build.build(engine.client()))

    # ----- push ----------------------------------------------------------------------
    def start_push(self) -> None:
        if not self._claim("The push"):
            return
        self._begin("Logging in to ECR…")
        layers = self.query_one("#l2-layers", Vertical)
        layers.remove_children()
        layers.display = True
        self._say("#l2-digest", "")
        self._push()

    @work(thread=True, group="work-lab2", exclusive=True)
    def _push(self) -> None:
        from dlworkshop.container import engine, push
        from dlworkshop.errors import UserError

        def events():
            ctx = self.ctx
            if ctx is None:
                raise UserError("Not connected yet: wait for the header to show the target.")
            return push.push(engine.client(), ctx)

        self._relay(events)

    def _relay(self, start) -> None:
        """Post every event of `start()` to the UI; any exception becomes a Failed event."""
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        try:
            for event in start():
                self.post_message(WorkEvent(event))
        except Exception as exc:  # no engine, no stack, a dropped connection: say so
            self.post_message(WorkEvent(Failed(explain(exc))))
        self.post_message(WorkFinished())

    def on_work_event(self, message: WorkEvent) -> None:
        from dlworkshop.container.build import BuildDone, BuildLine, BuildStep
        from dlworkshop.container.push import PushDone, PushLayer
        from dlworkshop.events import Failed, Log

        event = message.event
        log = self.query_one("#l2-log", RichLog)
        if isinstance(event, BuildStep):
            self._say("#l2-step",
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
            self._say("#l2-step", "Done.")
            self._say(
                "#l2-result",
                f"[b green]Built[/] {event.tag}: {event.size_mb:.0f} MB in {event.seconds:.0f} s",
            )
        elif isinstance(event, PushLayer):
            self._layer(event)
        elif isinstance(event, PushDone):
            self._say("#l2-step", "Pushed.")
            self._say(
                "#l2-digest",
                f"[b green]Pushed[/] {event.repository}:{event.tag}\n[b]digest[/] {event.digest}",
            )
            log.write(event.render_text())
        elif isinstance(event, Failed):
            self._say("#l2-step", f"[b red]{event.message}[/]")
            self.app.notify(event.message, title="Lab 2", severity="error", timeout=12)
        elif isinstance(event, Log):
            self._say("#l2-step", event.message)
            log.write(event.message)

    def _layer(self, event) -> None:
        layers = self.query_one("#l2-layers", Vertical)
        rows = {row.layer_id: row for row in layers.query(LayerRow)}
        row = rows.get(event.layer)
        if row is None:
            row = LayerRow(event.layer)
            layers.mount(row)
        row.show(event)

    def on_work_finished(self, message: WorkFinished) -> None:
        self.running = None
        self.host.run_checks(self.lab.id)

    # ----- shell ---------------------------------------------------------------------
    def open_shell(self) -> None:
        if not self._claim("The shell"):
            return
        self._say("#l2-step", "Checking the image and the docker client…")
        self._prepare_shell()

    @work(thread=True, group="work-lab2", exclusive=True)
    def _prepare_shell(self) -> None:
        from dlworkshop.container import engine, shell
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        try:
            line = shell.command(engine.client())
            self.post_message(ShellReady(line, engine.cli_environment()))
        except Exception as exc:  # no docker CLI, no image, no engine
            self.post_message(WorkEvent(Failed(explain(exc))))
            self.post_message(WorkFinished())

    def on_shell_ready(self, message: ShellReady) -> None:
        self.running = None
        code = self.run_suspended(message.line, message.env, SHELL_BANNER)
        if code is None:
            self._say(
                "#l2-step",
                "[b red]This terminal cannot hand itself over to a shell.[/] "
                "Run `dlworkshop image shell` in another terminal.",
            )
            return
        self._say("#l2-step", f"Shell exited: status {code}.")
        self.host.run_checks(self.lab.id)
