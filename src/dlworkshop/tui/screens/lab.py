"""The view of one lab: its guide, its actions and its checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Static

from dlworkshop import checkpoints
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.labs import Lab
from dlworkshop.tui.host import Host
from dlworkshop.tui.widgets.checkpoints import CheckpointList


@dataclass(frozen=True)
class LabAction:
    """Something a lab lets the learner do; each one is also a command-palette entry."""

    title: str
    help: str
    run: Callable[[], object]


class LabView(Vertical):
    """Guide text on the left; actions and live checkpoints on the right.

    Later labs subclass this and override `compose_actions` and `actions`; a lab whose
    actions are not built yet keeps `built = False` and says so on screen. Work the learner
    starts runs in a worker group named "work-…", so quitting asks first while it runs.
    """

    built = False  # a lab's own keys are in tui/keys.py
    not_built_text = (
        "This lab's actions are not built yet: read the guide, and its checkpoints will "
        "run once their checks exist."
    )

    def __init__(self, lab: Lab) -> None:
        super().__init__(id=f"lab-{lab.id}", classes="lab-view")
        self.lab = lab
        self.composed = asyncio.Event()  # set once every widget of the view is mounted

    @on(events.Mount)
    def _composed(self) -> None:
        # Mount comes after compose, whose handler waits for every child to mount (and each
        # child for its own): the whole view is in place now.
        self.composed.set()

    def compose(self) -> ComposeResult:
        yield Static(self.lab.label, classes="lab-title")
        if not self.built:
            yield Static(self.not_built_text, classes="not-built")
        with Horizontal(classes="lab-body"):
            with VerticalScroll(classes="guide"):
                yield self.guide()
            with VerticalScroll(classes="side"):
                yield from self.compose_actions()
                yield CheckpointList(checkpoints.for_lab(self.lab.id), classes="checkpoints")
                yield Button("Run checks (r)", id=f"run-{self.lab.id}", classes="run-checks")

    def guide(self) -> Widget:
        """The lab's guide, rendered."""
        from textual.widgets import Markdown

        return Markdown(self.lab.guide_text())

    def compose_actions(self) -> Iterator:
        """Widgets for this lab's actions (none until the lab is built)."""
        yield from ()

    def actions(self) -> list[LabAction]:
        """This lab's actions, offered in the command palette."""
        return []

    def connected(self) -> None:
        """The app has its target now: a lab that needs it catches up (called by the app)."""

    def first_visit(self) -> None:
        """The learner opens this lab for the first time: its guide opens expanded."""
        from textual.widgets import Collapsible

        for guide in self.query(Collapsible).filter(".guide-box"):
            guide.collapsed = False

    def ask(self, question: str, yes: str, no: str) -> bool:
        """Ask from a worker thread in a dialog, and wait for the answer."""
        import threading

        from dlworkshop.tui.screens.confirm import Confirm

        answer: list[bool] = []
        done = threading.Event()

        def show() -> None:
            def answered(result: bool | None) -> None:
                answer.append(bool(result))
                done.set()

            self.app.push_screen(Confirm(question, yes, no), answered)

        self.app.call_from_thread(show)
        while not done.wait(0.5):
            if not self.app.is_running:
                return False  # the app closed with the question open: the answer is no
        return answer[0]

    def run_suspended(self, line: list[str], env: dict[str, str] | None, banner: str) -> int | None:
        """Hand the terminal to `line` (a shell) and come back when it exits: its status,
        or None when this terminal cannot be handed over."""
        import subprocess

        from textual.app import SuspendNotSupported

        try:
            with self.app.suspend():
                print(banner, flush=True)
                return subprocess.call(line, env=env)
        except SuspendNotSupported:
            return None

    @property
    def host(self) -> Host:
        """The app, as what the screens may use of it."""
        return cast(Host, self.app)

    @property
    def ctx(self) -> Context:
        """The connection's context; work starts only once the app is connected."""
        ctx = self.host.ctx
        if ctx is None:
            raise UserError("Still connecting to AWS (or the sandbox); try again in a moment.")
        return ctx

    @property
    def checkpoint_list(self) -> CheckpointList:
        return self.query_one(CheckpointList)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"run-{self.lab.id}":
            event.stop()
            self.host.run_checks(self.lab.id)
