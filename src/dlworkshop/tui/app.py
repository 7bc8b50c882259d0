"""`dlworkshop-tui`: the keyboard-driven lab navigator."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Header, Input, ListView
from textual.worker import WorkerState

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.checkpoints import CheckResult
from dlworkshop.labs import BY_ID, LABS, lab_index
from dlworkshop.target import DEFAULT_REGION, SANDBOX, Target
from dlworkshop.tui.keys import LAB_KEYS, VIEWS
from dlworkshop.tui.screens.lab import LabView
from dlworkshop.tui.widgets.checkpoints import PASSED, PENDING, RUNNING, UNBUILT
from dlworkshop.tui.widgets.footer import KeyFooter
from dlworkshop.tui.widgets.nav import LabNav

if TYPE_CHECKING:
    from textual.actions import ActionParseResult
    from textual.dom import DOMNode

    from dlworkshop.context import Context
    from dlworkshop.tui.screens.overview import ConnectionPanel

CONNECT_TIMEOUT = 90.0
NARROW = 100  # below this many columns the lab's guide and checkpoints stack


def make_view(lab_id: str) -> LabView:
    """The view of one lab, its screen module imported on first use."""
    import importlib

    module, _, name = VIEWS.get(lab_id, "lab:LabView").partition(":")
    view_class = getattr(importlib.import_module(f"dlworkshop.tui.screens.{module}"), name)
    return view_class(BY_ID[lab_id])


def _is_text_field(widget: object) -> bool:
    """Whether `widget` takes typed letters and arrows (an Input or a TextArea)."""
    if isinstance(widget, Input):
        return True
    # TextArea's module (and pygments) is imported only once a lab uses one: before that,
    # no widget can be a TextArea, and start-up does not pay for the import.
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea)


def _lab_bindings() -> list[Binding]:
    """Each lab's own keys, active (and in the footer) only while that lab is shown."""
    return [
        Binding(key, f"lab_key('{lab_id}', '{method}')", text, show=all(shown),
                tooltip=f"{BY_ID[lab_id].name}: {text}")
        for lab_id, keys in LAB_KEYS.items()
        for key, method, text, *shown in keys
    ]


class Connected(Message):
    """The target is resolved (and the sandbox is up, in sandbox mode)."""

    def __init__(
        self, target: Target, started_sandbox: object | None, sandbox: dict | None = None
    ) -> None:
        super().__init__()
        self.target = target
        self.started_sandbox = started_sandbox
        self.sandbox = sandbox  # the running sandbox's record (endpoint, registry)


class ConnectFailed(Message):
    """The target could not be resolved or the sandbox would not start."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class CheckDone(Message):
    """A checkpoint finished."""

    def __init__(self, lab_id: str, checkpoint_id: str, result: CheckResult) -> None:
        super().__init__()
        self.lab_id, self.checkpoint_id, self.result = lab_id, checkpoint_id, result


class WorkshopApp(App[int]):
    """Guides a learner through the labs and verifies each checkpoint for real."""

    TITLE = "dlworkshop"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        # Short footer texts: a lab's own keys share the line (the help says it in full).
        # Under 100 columns the lab's own keys need the whole footer: n, p, r and ? are
        # then left out of it (check_action) and their hidden twins below take the keys.
        Binding("n", "footer('next_lab')", "Next", tooltip="Next lab"),
        Binding("p", "footer('previous_lab')", "Back", tooltip="Previous lab"),
        Binding("r", "footer('run_checks')", "Checks", tooltip="Run this lab's checkpoints"),
        Binding("question_mark", "footer('help')", "Help", tooltip="Every key, in full"),
        Binding("n", "next_lab", "Next lab", show=False),
        Binding("p", "previous_lab", "Previous lab", show=False),
        # Priority so a focused scroll view does not swallow them; check_action lets text
        # inputs keep their arrows.
        Binding("right", "next_lab", "Next lab", show=False, priority=True),
        Binding("left", "previous_lab", "Previous lab", show=False, priority=True),
        *(
            Binding(str(i + 1), f"goto({i})", f"Go to {lab.name}", show=False)
            for i, lab in enumerate(LABS)
        ),
        Binding("r", "run_checks", "Run this lab's checkpoints", show=False),
        Binding("question_mark", "help", "Help", show=False),
        # The footer shows ^p at its right end already: not twice.
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            tooltip="Command palette: every lab action, searchable",
        ),
        # Priority: quitting must not wait behind a busy lab (or the labs still composing
        # after the first frame); check_action leaves q to text fields and open dialogs.
        Binding("q", "quit", "Quit", priority=True),
        *_lab_bindings(),
    ]

    def __init__(
        self,
        sandbox: bool = False,
        profile: str | None = None,
        region: str | None = None,
    ) -> None:
        super().__init__()
        self.want_sandbox, self.want_profile, self.want_region = sandbox, profile, region
        loaded = state_store.load()
        self.state = loaded.state
        self.state_warning = loaded.warning
        self.target: Target | None = None
        self.connect_error: str | None = None
        self.ctx: Context | None = None
        self._link_ready = threading.Event()
        self._shutting_down = False
        self._cleanups: list[Callable[[], object]] = []
        # Set by the command (`main`), whose process ends with the app: quitting then gives
        # the terminal back at once, and each helper it started (the sandbox, a model
        # server) is asked to stop and left to a detached reaper (stop_in_background).
        self.quick_exit = False
        self._first_lab = self.state.current_lab if self.state.current_lab in BY_ID else "overview"
        self.labs_composed = asyncio.Event()  # set once every lab's view is in place
        # What came before every lab was composed and needs them (keys, clicks, Connected),
        # in order; each is called once they are (an awaitable is awaited).
        self._after_labs: list[Callable[[], object]] = []
        self._opened = False  # the first lab's view is composed and shown

    # ----- layout ---------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            yield LabNav(id="nav")
            # The first frame lists the labs; each lab is composed right after it, the
            # one to open first.
            yield ContentSwitcher(id="labs")
        yield KeyFooter()

    def _start_composing(self) -> None:
        """Compose the labs in a task of their own, so the app's keys (q above all) are
        handled meanwhile."""
        self.run_worker(self._compose_labs(), name="compose-labs", group="compose")

    async def _compose_labs(self) -> None:
        """Show the lab to open first, then put every other lab in place (hidden); then
        act on what waited for them."""
        switcher, first = self.query_one(ContentSwitcher), lab_index(self._first_lab)
        opened = make_view(self._first_lab)
        await switcher.mount(opened)
        await opened.composed.wait()
        self._opened = True
        self.show_lab(self._first_lab)
        self.connect()  # a worker thread, mostly waiting for the sandbox to start
        before = [make_view(lab.id) for lab in LABS[:first]]
        after = [make_view(lab.id) for lab in LABS[first + 1 :]]
        for view in before + after:
            view.display = False  # the switcher hides only the views it started with
        if before:
            await switcher.mount_all(before, before=0)
        await switcher.mount_all(after)
        # Mounting returns before the views' own widgets are composed: wait for those too.
        await asyncio.gather(*(view.composed.wait() for view in before + after))
        self.labs_composed.set()
        waited, self._after_labs = self._after_labs, []
        for handle in waited:
            if inspect.isawaitable(result := handle()):
                await result

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        # A key pressed on the first frame waits for the labs it may need; quitting never waits.
        if not self.labs_composed.is_set() and action != "quit":
            self._after_labs.append(partial(self.run_action, action, default_namespace, namespaces))
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def on_mount(self) -> None:
        # A closed terminal (SIGHUP) or a kill (SIGTERM) still stops what the app started.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._exit_on_signal)
        if self.state_warning:
            self.notify(self.state_warning, title="Progress reset", severity="warning", timeout=15)
        mode = SANDBOX if self.want_sandbox else None
        region = self.want_region or self.state.region or DEFAULT_REGION
        self._set_subtitle(mode, region)
        self.query_one(LabNav).index = lab_index(self._first_lab)
        self.query_one(LabNav).focus()
        # After the first frame, from the app's own queue (a refresh's callbacks run on the
        # screen's, even before the app runs, when nothing mounted would start).
        self.call_after_refresh(lambda: self.call_later(self._start_composing))

    def on_resize(self, event: events.Resize) -> None:
        narrow = event.size.width < NARROW
        if narrow == self.has_class("-narrow"):
            return
        self.set_class(narrow, "-narrow")
        self.query_one(KeyFooter).compact = narrow
        self.refresh_bindings()  # the footer leaves n, p, r and ? out when narrow

    def _exit_on_signal(self) -> None:
        self.run_cleanups()
        self.exit(0)

    def _set_subtitle(self, mode: str | None, region: str) -> None:
        label = {None: "connecting…", SANDBOX: "sandbox (offline)"}.get(mode)
        if self.target is not None:
            label = self.target.label
        self.sub_title = f"{label} · {region} · stack {self.state.stack_name}"

    def refresh_subtitle(self) -> None:
        """Show the current mode, region and stack in the header."""
        if self.target is not None:
            self._set_subtitle(self.target.mode, self.target.region)

    # ----- connecting ------------------------------------------------------------------
    @work(thread=True, group="connect", exit_on_error=False)
    def connect(self) -> None:
        """Resolve the mode and, in sandbox mode, reuse or start the sandbox (off the UI)."""
        from dlworkshop import target as target_mod
        from dlworkshop.errors import explain

        try:
            target = target_mod.resolve(
                self.want_sandbox, self.want_profile, self.want_region, self.state.region
            )
            started = record = None
            if target.is_sandbox:
                from dlworkshop.sandbox import lifecycle

                info, was_started = lifecycle.start(owner="tui", owner_pid=os.getpid())
                started = info if was_started else None
                target = target.with_endpoint(info.endpoint)
                record = info.to_record()
                if self._shutting_down and started is not None:
                    lifecycle.stop(only=started)  # the app closed while the sandbox started
                    return
            self.post_message(Connected(target, started, record))
        except Exception as exc:
            self.post_message(ConnectFailed(explain(exc)))

    def on_connected(self, message: Connected) -> None:
        from dlworkshop.context import Context

        if not self.labs_composed.is_set():  # every lab shows the connection: wait for them
            self._after_labs.append(partial(self.on_connected, message))
            return
        self.target = message.target
        if message.started_sandbox is not None:
            from dlworkshop.sandbox import lifecycle

            started = message.started_sandbox
            self.add_cleanup(
                lambda: lifecycle.stop(only=started, wait=not self.quick_exit)  # type: ignore[arg-type]
            )
        if message.sandbox is not None:
            # Already saved by lifecycle.start; the copy in memory must agree (its registry).
            self.state.sandbox = message.sandbox
        self.ctx = Context(self.target, self.state)
        self._link_ready.set()
        target = self.target

        def chosen(s: state_store.State) -> None:
            s.mode, s.profile, s.region = target.mode, target.profile, target.region

        self.remember(chosen)
        self._set_subtitle(self.target.mode, self.target.region)
        panel = self._connection_panel()
        if panel is None:
            return  # the app is closing and its screens are gone; nothing left to show
        panel.show_target(self.target)
        self.refresh_progress()
        self.recheck_passes()
        for view in self.query(LabView):  # labs shown while connecting catch up now
            view.connected()

    def switch_region(self, region: str) -> None:
        """Work in another region from now on (the header and the saved state follow)."""
        from dataclasses import replace

        from dlworkshop.context import Context
        from dlworkshop.target import check_region

        assert self.target is not None
        self.target = replace(self.target, region=check_region(region))
        self.ctx = Context(self.target, self.state)
        self.remember(lambda s: setattr(s, "region", region))
        self._set_subtitle(self.target.mode, region)
        if panel := self._connection_panel():
            panel.show_target(self.target)

    def _connection_panel(self) -> ConnectionPanel | None:
        from dlworkshop.tui.screens.overview import ConnectionPanel

        panels = self.query(ConnectionPanel)
        return panels.first() if panels else None

    def on_connect_failed(self, message: ConnectFailed) -> None:
        if not self.labs_composed.is_set():
            self._after_labs.append(partial(self.on_connect_failed, message))
            return
        self.connect_error = message.reason
        self._link_ready.set()
        if panel := self._connection_panel():
            panel.show_error(message.reason)
        self.notify(message.reason, title="Not connected", severity="error", timeout=15)

    def remember(self, change: Callable[[state_store.State], None]) -> None:
        """Apply `change` to the state now, and save it to disk without blocking the UI."""
        change(self.state)
        self._save_in_background(change)

    @work(thread=True, group="state")
    def _save_in_background(self, change: Callable[[state_store.State], None]) -> None:
        state_store.update(change)

    # ----- labs ------------------------------------------------------------------------
    @property
    def current_lab(self) -> str:
        current = self.query_one(ContentSwitcher).current
        return current.removeprefix("lab-") if current else self._first_lab  # none yet: opening

    def show_lab(self, lab_id: str) -> None:
        """Show a lab and highlight it in the navigator."""
        if not self.labs_composed.is_set() and not (lab_id == self._first_lab and self._opened):
            # Asked for before its view is composed (a click on the first frame): shown once
            # every lab is.
            self._after_labs.append(partial(self.show_lab, lab_id))
            return
        switcher = self.query_one(ContentSwitcher)
        if switcher.current != f"lab-{lab_id}":
            switcher.current = f"lab-{lab_id}"
        nav = self.query_one(LabNav)
        index = lab_index(lab_id)
        if nav.index != index:
            nav.index = index
        if self.state.current_lab != lab_id:
            self.remember(lambda s: setattr(s, "current_lab", lab_id))
        if lab_id not in self.state.seen_labs:
            self.view(lab_id).first_visit()

            def seen(s: state_store.State) -> None:
                if lab_id not in s.seen_labs:
                    s.seen_labs.append(lab_id)

            self.remember(seen)
        self.refresh_bindings()  # the footer shows the lab's own keys
        self.call_after_refresh(self._keep_focus_visible)

    def _keep_focus_visible(self) -> None:
        """Focus stays on the navigator or inside the lab shown; never in a hidden lab.

        A widget of the lab just hidden could keep the focus (or get it from Textual as
        the next in line), and then typed keys went into a field nobody could see.
        """
        if self.screen is not self.screen_stack[0]:
            return  # a dialog is open: it owns the focus
        view, nav = self.view(self.current_lab), self.query_one(LabNav)
        focused = self.focused
        if focused is nav or (focused is not None and view in focused.ancestors):
            return
        chain = [w for w in self.screen.focus_chain if view in w.ancestors]
        # Not a text field: n, p and the lab's keys keep working after the switch.
        target = next((w for w in chain if not _is_text_field(w)), None)
        (target or nav).focus()

    @on(ListView.Highlighted, "#nav")
    def _nav_highlighted(self, event: ListView.Highlighted) -> None:
        item = event.item
        # Highlights arrive after the fact: one that no longer matches the navigator's index
        # is stale, and following it would bounce between two labs forever.
        if item is not None and event.list_view.index == lab_index(item.lab.id):  # type: ignore[attr-defined]
            self.show_lab(item.lab.id)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Let text widgets keep ←/→ for their cursor, and letters for typing.
        in_text = _is_text_field(self.focused)
        if action == "lab_key":
            return not in_text and parameters[:1] == (self.current_lab,)
        if action == "quit":
            return not in_text and self.screen is self.screen_stack[0]
        if action == "footer":
            if self.has_class("-narrow"):
                return False  # out of the footer; the hidden twin takes the key
            action = str(parameters[0])
        return not (in_text and action in ("next_lab", "previous_lab"))

    def action_footer(self, action: str) -> None:
        """A footer entry: the same as its hidden twin."""
        getattr(self, f"action_{action}")()

    def action_lab_key(self, lab_id: str, method: str) -> None:
        getattr(self.view(lab_id), method)()

    def action_next_lab(self) -> None:
        self.show_lab(LABS[min(lab_index(self.current_lab) + 1, len(LABS) - 1)].id)

    def action_previous_lab(self) -> None:
        self.show_lab(LABS[max(lab_index(self.current_lab) - 1, 0)].id)

    def action_goto(self, index: int) -> None:
        self.show_lab(LABS[index].id)

    def action_help(self) -> None:
        from dlworkshop.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([b for b in self.BINDINGS if isinstance(b, Binding)]))

    # ----- checkpoints -----------------------------------------------------------------
    def view(self, lab_id: str) -> LabView:
        return self.query_one(f"#lab-{lab_id}", LabView)

    def refresh_progress(self) -> None:
        """Show the saved results of the current mode on every row and in the navigator."""
        results = self.state.results(self.target.mode) if self.target else {}
        nav = self.query_one(LabNav)
        for lab in LABS:
            cps = checkpoints.for_lab(lab.id)
            listing = self.view(lab.id).checkpoint_list
            for cp in cps:
                row = listing.row(cp.id)
                if row.status == RUNNING:
                    continue
                rec = results.get(cp.id)
                if rec:
                    row.show(rec["status"], rec.get("reason", ""))
                else:
                    row.show(PENDING if cp.available else UNBUILT)
            passed = sum(results.get(cp.id, {}).get("status") == PASSED for cp in cps)
            nav.item(lab.id).set_progress(passed, len(cps))

    def action_run_checks(self) -> None:
        self.run_checks(self.current_lab)

    def run_checks(self, lab_id: str) -> None:
        """Run a lab's checkpoints in a worker; rows show running, then the result."""
        runnable = [cp for cp in checkpoints.for_lab(lab_id) if cp.available]
        if not runnable:
            self.notify(f"{BY_ID[lab_id].name} has no checks to run yet.", severity="warning")
            return
        listing = self.view(lab_id).checkpoint_list
        for cp in runnable:
            listing.row(cp.id).show(RUNNING)
        self._run_checks(lab_id, runnable)

    @work(thread=True, group="work-checks")
    def _run_checks(self, lab_id: str, runnable: list) -> None:
        if not self._link_ready.wait(CONNECT_TIMEOUT):
            self.connect_error = "The app is still connecting; try again in a moment."
        for cp in runnable:
            if self.ctx is None:
                result = CheckResult.fail(self.connect_error or "Not connected.")
            else:
                result = checkpoints.run(cp, self.ctx)
                mode = self.ctx.target.mode

                def record(s: state_store.State, cp_id=cp.id, r=result, m=mode) -> None:
                    s.record(m, cp_id, r.passed, r.reason)

                state_store.update(record)
            self.post_message(CheckDone(lab_id, cp.id, result))

    @work(thread=True, group="recheck")
    def recheck_passes(self, lab_ids: list[str] | None = None) -> None:
        """Is every pass still true? Cheap rechecks; a pass whose resource is gone shows so."""
        ctx = self.ctx
        if ctx is None:
            return
        mode = ctx.target.mode
        for cp, result in checkpoints.still_true(ctx, lab_ids):

            def record(s: state_store.State, cp_id=cp.id, r=result) -> None:
                s.record(mode, cp_id, r.passed, r.reason)

            state_store.update(record)
            self.post_message(CheckDone(cp.lab, cp.id, result))

    def on_check_done(self, message: CheckDone) -> None:
        result = message.result
        if self.target is None:
            return
        mode = self.target.mode
        self.state.record(mode, message.checkpoint_id, result.passed, result.reason)
        if not self.view(message.lab_id).query("CheckpointList"):
            return  # the app is closing and its screens are gone; the worker saved the result
        row = self.view(message.lab_id).checkpoint_list.row(message.checkpoint_id)
        row.show(self.state.results(mode)[message.checkpoint_id]["status"], result.reason)
        self.refresh_progress()

    # ----- command palette -------------------------------------------------------------
    def _run_action(self, lab_id: str, run: Callable[[], object]) -> None:
        """A lab's action from the palette: show its lab first, where its progress appears."""
        self.show_lab(lab_id)
        run()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for lab in LABS:
            yield SystemCommand(
                f"Go to {lab.label}", f"Show {lab.name}", partial(self.show_lab, lab.id)
            )
            if any(cp.available for cp in checkpoints.for_lab(lab.id)):
                yield SystemCommand(
                    f"{lab.name}: run checkpoints",
                    f"Verify {lab.name}'s checkpoints for real",
                    partial(self.run_checks, lab.id),
                )
            for action in self.view(lab.id).actions():
                yield SystemCommand(action.title, action.help,
                                    partial(self._run_action, lab.id, action.run))  # fmt: skip
        yield SystemCommand("Help", "Show every key binding", self.action_help)
        yield from super().get_system_commands(screen)

    # ----- quitting --------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether work that the learner started is still running.

        Such work runs in worker groups named "work-…"; housekeeping (connecting, saving,
        a directory tree's loader) does not count.
        """
        return any(
            w.state in (WorkerState.PENDING, WorkerState.RUNNING) and w.group.startswith("work-")
            for w in self.workers
        )

    async def action_quit(self) -> None:
        if not self.busy():
            self.leave()
            return

        from dlworkshop.tui.screens.confirm import Confirm

        def answered(yes: bool | None) -> None:
            if yes:
                self.leave()

        self.push_screen(Confirm("Work is still running. Quit anyway?", "Quit", "Stay"), answered)

    def leave(self) -> None:
        """Quit: Textual's orderly exit, or with `quick_exit` the process ends right here."""
        if not self.quick_exit:
            self.exit(0)
            return
        # The process ends anyway: taking every widget down first (0.3 s, and over a second
        # while a worker thread holds the interpreter) would only keep the learner waiting.
        # Stop the helpers, give the terminal back as Textual does on exit, and go.
        self.run_cleanups()
        driver = self._driver
        if driver is not None:
            with contextlib.suppress(Exception):
                driver.stop_application_mode()
                driver.close()  # writes what is queued for the terminal, then stops
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(0)

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        """Run `cleanup` when the app exits (stops what the app started)."""
        self._cleanups.append(cleanup)

    def run_cleanups(self) -> None:
        """Stop what this app started; safe to call more than once."""
        self._shutting_down = True
        while self._cleanups:
            # One failed cleanup must not keep the others from running.
            with contextlib.suppress(Exception):
                self._cleanups.pop()()

    def on_unmount(self) -> None:
        self.run_cleanups()


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `dlworkshop-tui`."""
    parser = argparse.ArgumentParser(prog="dlworkshop-tui", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sandbox", action="store_true", help="use the offline sandbox")
    mode.add_argument("--profile", help="AWS profile (standard credential chain)")
    parser.add_argument("--region", help="AWS region, e.g. us-east-1")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the app; exits 0 when the learner quits."""
    args = build_parser().parse_args(argv)
    if args.region:
        from dlworkshop.errors import UserError
        from dlworkshop.target import check_region

        try:
            check_region(args.region)
        except UserError as exc:
            parser_error = f"dlworkshop-tui: {exc}"
            print(parser_error)
            return 2
    from dlworkshop.tui import terminal

    terminal.probe()  # what the terminal draws can only be asked before Textual reads keys
    app = WorkshopApp(sandbox=args.sandbox, profile=args.profile, region=args.region)
    app.quick_exit = True
    code = 1
    try:
        result = app.run()
        code = result if isinstance(result, int) else (app.return_code or 0)
    finally:
        app.run_cleanups()
        # Everything the app started is stopped now. Textual's input thread can outlive
        # the app when the terminal went away while it quit (it then spins on end-of-file
        # at 100% CPU, and the interpreter waits for it forever), and a worker thread may
        # be blocked on the network: neither may keep the process alive, whatever ended
        # the app (an exception from writing to a terminal that is gone included).
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
