"""Lab 3: run the MXNet container on ECS, follow its tasks, tunnel to it over SSH, check
the instances reach each other, and read its logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from rich.markup import escape
from textual import on, work
from textual.message import Message
from textual.widgets import Button, Collapsible, DataTable, Input, Log, Select, Static
from textual.worker import get_current_worker

from dlworkshop.tui.screens.lab import LabAction, LabView

if TYPE_CHECKING:
    from dlworkshop.remote.tunnel import Tunnel
    from dlworkshop.tui.screens.lab4 import Lab4View

LOG_KEEP = 200_000  # lines kept for searching; the pane shows the newest of what matches
LOG_SHOW = 5_000  # lines the pane holds at once (scrolling stays instant)
LOG_BATCH_EVERY = 0.25  # seconds between batches of log lines posted to the UI


def short(instance_id: str) -> str:
    """An instance ID as the tables show it: "i-" and 8 characters (the tunnel names it whole)."""
    return instance_id[:10]


ALL = "all"  # the instance choice meaning every instance


class InstancesListed(Message):
    """The cluster's container instances, for the instance choice."""

    def __init__(self, instances: list[tuple[str, str]]) -> None:
        super().__init__()
        self.instances = instances  # (instance id, address)


class WorkEvent(Message):
    """One event from a deploy, a stop, the tunnel or the mesh check."""

    def __init__(self, event: object, done: bool = False) -> None:
        super().__init__()
        self.event = event
        self.done = done


class ShellReady(Message):
    """OpenSSH's command line for the instance, prepared off the UI thread."""

    def __init__(self, line: list[str], instance: str, trusted: str | None) -> None:
        super().__init__()
        self.line, self.instance, self.trusted = line, instance, trusted


class LogBatch(Message):
    """New log lines (posted in batches: one message a line would flood the UI)."""

    def __init__(self, lines: list) -> None:
        super().__init__()
        self.lines = lines


class Lab3View(LabView):
    """Deploy (d), Jupyter (j), Stop (s), Tunnel (t), Mesh (m), Logs (l), Shell (h)."""

    built = True

    def __init__(self, lab) -> None:
        super().__init__(lab)
        self.tunnel: Tunnel | None = None  # the open remote.tunnel.Tunnel
        self.tunnel_urls: dict[str, str] = {}
        self._logs_stop: threading.Event | None = None
        self._lines: list[str] = []
        self._filter = ""

    def _lab4(self) -> Lab4View:
        """Lab 4's view, which classifies through the tunnel this lab opens."""
        return cast("Lab4View", self.host.view("lab4"))

    def compose_actions(self) -> Iterator:
        yield Static("Run the pushed image on every instance, tunnel to it over SSH, and read "
                     "its logs.", classes="dim")  # fmt: skip
        # Where deploy runs and the tunnel goes: every instance, or one of them.
        yield Select([("All instances (the tunnel: the first)", ALL)], value=ALL,
                     allow_blank=False, id="l3-where", compact=True)  # fmt: skip
        # Compact, one line each, as in Lab 2: bordered buttons would push the rest away.
        yield Button("Deploy the model server (d)", id="l3-deploy", variant="primary",
                     compact=True, classes="l3-button")  # fmt: skip
        yield Button("Run JupyterLab too (j)", id="l3-jupyter", compact=True,
                     classes="l3-button")  # fmt: skip
        yield Button("Open or close the SSH tunnel (t)", id="l3-tunnel", variant="success",
                     compact=True, classes="l3-button")  # fmt: skip
        yield Button("Check the instances reach each other (m)", id="l3-mesh", compact=True,
                     classes="l3-button")  # fmt: skip
        yield Button("Follow the logs (l)", id="l3-logs", compact=True, classes="l3-button")
        yield Button("Open a shell on the instance (h)", id="l3-shell", compact=True,
                     classes="l3-button")  # fmt: skip
        yield Button("Stop the tasks (s)", id="l3-stop", variant="error", compact=True,
                     classes="l3-button")  # fmt: skip
        yield Static("", id="l3-status")
        with Collapsible(title="Task definition", id="l3-taskdef", collapsed=True):
            yield Static("", id="l3-taskdef-json")
        yield DataTable(id="l3-tasks", cursor_type="row", zebra_stripes=True)
        yield Static("", id="l3-tunnel-panel")
        yield DataTable(id="l3-matrix", cursor_type="row")
        yield Input(placeholder="Search the log (enter)", id="l3-search")
        yield Log(id="l3-log", max_lines=LOG_SHOW, auto_scroll=True)

    def on_mount(self) -> None:
        tasks = self.query_one("#l3-tasks", DataTable)
        tasks.add_columns("Task", "Instance", "Status")
        matrix = self.query_one("#l3-matrix", DataTable)
        matrix.add_columns("From", "To", "Port", "Result", "ms")
        for selector in ("#l3-tasks", "#l3-matrix", "#l3-search", "#l3-log", "#l3-status",
                         "#l3-tunnel-panel", "#l3-taskdef"):  # fmt: skip
            self.query_one(selector).display = False

    def actions(self) -> list[LabAction]:
        return [
            LabAction("Lab 3: deploy the model server on ECS",
                      "Register the task definition and run one task per instance", self.deploy),
            LabAction("Lab 3: run JupyterLab on ECS", "A second task definition, port 8888",
                      self.deploy_jupyter),
            LabAction("Lab 3: stop the workshop's tasks", "stop_task on each", self.stop_tasks),
            LabAction("Lab 3: open or close the SSH tunnel",
                      "Forward the model server and Jupyter to this machine", self.toggle_tunnel),
            LabAction("Lab 3: check the instances reach each other",
                      "From the master over SSH, TCP to each secondary", self.check_mesh),
            LabAction("Lab 3: follow the logs", "The tasks' CloudWatch Logs, live",
                      self.toggle_logs),
            LabAction("Lab 3: open a shell on the instance",
                      "ssh ec2-user@INSTANCE (the app steps aside)", self.open_shell),
        ]  # fmt: skip

    # ----- buttons -------------------------------------------------------------------
    BUTTONS = {"l3-deploy": "deploy", "l3-jupyter": "deploy_jupyter", "l3-stop": "stop_tasks",
               "l3-tunnel": "toggle_tunnel", "l3-mesh": "check_mesh", "l3-logs": "toggle_logs",
               "l3-shell": "open_shell"}  # fmt: skip

    def on_button_pressed(self, event: Button.Pressed) -> None:
        method = self.BUTTONS.get(event.button.id or "")
        if method is None:
            super().on_button_pressed(event)  # Run checks
            return
        event.stop()
        getattr(self, method)()

    def _say(self, text: str) -> None:
        line = self.query_one("#l3-status", Static)
        line.update(text)
        line.display = bool(text)

    def _ctx(self):
        from dlworkshop.errors import UserError

        ctx = self.ctx
        if ctx is None:
            raise UserError("Not connected yet: wait for the header to show the target.")
        return ctx

    def _relay(self, events) -> None:
        """Post each event of `events()` to the UI; stop early when the worker is cancelled;
        any exception becomes a Failed event."""
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        worker = get_current_worker()
        try:
            for event in events():
                if worker.is_cancelled:
                    self.post_message(WorkEvent(Failed("Cancelled; the tasks go on.",
                                                       "Press s to stop them.")))  # fmt: skip
                    break
                self.post_message(WorkEvent(event))
        except Exception as exc:  # no stack, no image, no instance: say so and stay usable
            self.post_message(WorkEvent(Failed(explain(exc))))
        self.post_message(WorkEvent(None, done=True))

    # ----- deploy and stop -----------------------------------------------------------
    def deploy(self) -> None:
        self._start_deploy("serve")

    def deploy_jupyter(self) -> None:
        self._start_deploy("jupyter")

    def _start_deploy(self, kind: str) -> None:
        self._say(f"Registering the {'Jupyter' if kind == 'jupyter' else 'model server'} task "
                  "definition… (s stops the tasks; a new deploy cancels the wait)")  # fmt: skip
        self.query_one("#l3-tasks").display = True
        chosen = self.chosen_instance
        self._deploy(kind, (chosen,) if chosen else ())

    @work(thread=True, group="work-lab3-deploy", exclusive=True)
    def _deploy(self, kind: str, only: tuple[str, ...]) -> None:
        from dlworkshop.aws import tasks

        self._relay(lambda: tasks.run(self._ctx(), kind, only))

    @property
    def chosen_instance(self) -> str | None:
        """The instance picked in the choice, or None for all."""
        value = self.query_one("#l3-where", Select).value
        return None if value in (ALL, Select.BLANK) else str(value)

    def on_show(self) -> None:
        self._list_instances()

    @work(thread=True, group="lab3-instances", exclusive=True)
    def _list_instances(self) -> None:
        from dlworkshop.aws import tasks

        try:
            found = tasks.instances(self._ctx())
        except Exception:  # no stack yet, or not connected: the choice stays "all"
            return
        self.post_message(InstancesListed(
            [(i["ec2_instance_id"], i.get("public_ip") or i.get("private_ip", "")) for i in found]))

    def on_instances_listed(self, message: InstancesListed) -> None:
        choice = self.query_one("#l3-where", Select)
        current = choice.value
        options = [("All instances (the tunnel: the first)", ALL)] + [
            (f"Only {instance} ({address})", instance) for instance, address in message.instances]
        choice.set_options(options)
        choice.value = current if current in {v for _, v in options} else ALL

    def stop_tasks(self) -> None:
        self.workers_cancel("work-lab3-deploy")
        self._say("Stopping the workshop's tasks…")
        self._stop()

    def workers_cancel(self, group: str) -> None:
        self.app.workers.cancel_group(self, group)

    @work(thread=True, group="work-lab3-stop", exclusive=True)
    def _stop(self) -> None:
        from dlworkshop.aws import tasks

        self._relay(lambda: tasks.stop(self._ctx()))

    def on_work_event(self, message: WorkEvent) -> None:
        from dlworkshop.aws.taskdef import TaskDefinitionReady
        from dlworkshop.aws.tasks import TasksReady, TaskState
        from dlworkshop.events import Failed, Log
        from dlworkshop.remote.forwards import TunnelChanged, TunnelOpen
        from dlworkshop.remote.instances import Reach

        event = message.event
        if message.done:
            self.host.run_checks(self.lab.id)
            return
        if isinstance(event, TaskDefinitionReady):
            from rich.syntax import Syntax

            what = "registered" if event.registered else "unchanged"
            box = self.query_one("#l3-taskdef", Collapsible)
            box.title = f"Task definition {event.family}:{event.revision} ({what})"
            box.display = True
            self.query_one("#l3-taskdef-json", Static).update(
                Syntax(event.json(), "json", word_wrap=True, background_color="default"))
            self._say(f"[b]{event.family}:{event.revision}[/] {what}; starting one task per "
                      "instance…")  # fmt: skip
        elif isinstance(event, TaskState):
            self._task_row(event)
            self._say(f"Task {event.short_id}: {event.status.lower()}…")
        elif isinstance(event, TasksReady):
            self._say(f"[b green]{len(event.tasks)} task(s) of {event.family} running.[/] "
                      "Press t for the SSH tunnel.")  # fmt: skip
        elif isinstance(event, TunnelOpen):
            self._show_tunnel(event)
        elif isinstance(event, TunnelChanged):
            self._say(event.render_text())
        elif isinstance(event, Reach):
            self._reach_row(event)
        elif isinstance(event, Failed):
            hint = f" {escape(event.hint)}" if event.hint else ""
            self._say(f"[b red]{escape(event.message)}[/]{hint}")
            self.app.notify(event.message, title="Lab 3", severity="error", timeout=12)
        elif isinstance(event, Log):
            self._say(escape(event.message))

    def _task_row(self, state) -> None:
        table = self.query_one("#l3-tasks", DataTable)
        # Jupyter has no health check: its rows say what they run instead.
        if state.family.endswith("-jupyter"):
            detail = " Jupyter"
        else:
            detail = "" if state.health in ("", "UNKNOWN") else f" {state.health.lower()}"
        cells = (state.short_id, short(state.instance_id), f"{state.status}{detail}")
        if state.task_id in table.rows:
            for column, value in zip(table.columns, cells, strict=True):
                table.update_cell(state.task_id, column, value)
        else:
            table.add_row(*cells, key=state.task_id)

    # ----- the tunnel ----------------------------------------------------------------
    def toggle_tunnel(self) -> None:
        if self.tunnel is not None:
            self._close_tunnel()
            return
        self._say("Opening the SSH tunnel (the first time, the instance's host key is pinned)…")
        self._open_tunnel(self.chosen_instance)

    @work(thread=True, group="work-lab3-tunnel", exclusive=True)
    def _open_tunnel(self, instance: str | None) -> None:
        import os

        from dlworkshop.errors import explain
        from dlworkshop.events import Failed
        from dlworkshop.remote import forwards

        try:
            tunnel, opened = forwards.open_tunnel(self._ctx(), instance, owner="tui")
        except Exception as exc:
            self.post_message(WorkEvent(Failed(explain(exc))))
            self.post_message(WorkEvent(None, done=True))
            return
        self.tunnel = tunnel
        pid = os.getpid()
        def close() -> None:
            tunnel.close()
            forwards.forget(pid)

        self.host.add_cleanup(close)
        tunnel.keep(lambda what: self.post_message(WorkEvent(forwards.TunnelChanged(what))))
        self.post_message(WorkEvent(opened))
        self.post_message(WorkEvent(None, done=True))

    def _show_tunnel(self, opened) -> None:
        from rich.style import Style
        from rich.text import Text

        from dlworkshop.remote import forwards

        self.tunnel_urls = dict(opened.urls)
        lines = [Text.assemble(("SSH tunnel", "bold"), f" to {opened.instance} ({opened.host})")]
        if opened.new_host_key:
            lines.append(Text.assemble(("Trusted its host key on first use: ", "yellow"),
                                       opened.fingerprint))  # fmt: skip
        for port, url in opened.urls.items():
            # A link the terminal can open (the URL may carry Jupyter's token).
            lines.append(Text.assemble(f"{forwards.PORT_NAMES.get(port, port)}: ",
                                       (url, Style(link=url, underline=True))))  # fmt: skip
        if "8888" in opened.urls and "token=" not in opened.urls["8888"]:
            lines.append(Text("Jupyter: press j to run it, then t twice for its token.",
                              style="dim"))  # fmt: skip
        panel = self.query_one("#l3-tunnel-panel", Static)
        panel.update(Text("\n").join(lines))
        panel.display = True
        self._say("Tunnel open. Lab 4 classifies through it now.")
        server = opened.urls.get("8080")
        if server:
            self._lab4().set_endpoint(
                server, "Lab 3's SSH tunnel to the container on ECS")

    def _close_tunnel(self) -> None:
        import os

        from dlworkshop.remote import forwards

        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None:
            tunnel.close()
        forwards.forget(os.getpid())
        self.host.state.services.pop(forwards.NAME, None)
        panel = self.query_one("#l3-tunnel-panel", Static)
        panel.update("[dim]SSH tunnel closed.[/]")
        self._say("Tunnel closed.")
        lab4 = self._lab4()
        if lab4.endpoint and lab4.endpoint == self.tunnel_urls.get("8080"):
            lab4.endpoint = None
            lab4.ensure_server()
        self.host.run_checks(self.lab.id)

    # ----- a shell on the instance ------------------------------------------------------
    def open_shell(self) -> None:
        self._say("Connecting to the first instance…")
        self._prepare_shell()

    @work(thread=True, group="work-lab3-shell", exclusive=True)
    def _prepare_shell(self) -> None:
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed
        from dlworkshop.remote import instances

        try:
            instance = instances.pick(self._ctx())
            line, trusted = instances.ssh_command(self._ctx(), instance)
        except Exception as exc:  # no instance, no key, no ssh client: say so
            self.post_message(WorkEvent(Failed(explain(exc))))
            return
        self.post_message(ShellReady(line, instance.instance_id, trusted))

    def on_shell_ready(self, message: ShellReady) -> None:
        banner = (f"A shell on {message.instance} as ec2-user. Type `exit` (or Ctrl+D) to "
                  "return to dlworkshop.")  # fmt: skip
        if message.trusted:
            banner += f"\nFirst connection: trusted its host key {message.trusted}."
        code = self.run_suspended(message.line, None, banner)
        if code is None:
            self._say("[b red]This terminal cannot hand itself over to a shell.[/] Run "
                      "`dlworkshop ssh` in another terminal.")  # fmt: skip
        else:
            self._say(f"Shell closed (status {code}); it ran on {message.instance}.")

    # ----- the mesh --------------------------------------------------------------------
    def check_mesh(self) -> None:
        self._say("Checking from the master over SSH…")
        table = self.query_one("#l3-matrix", DataTable)
        table.clear()
        table.display = True
        self._mesh()

    @work(thread=True, group="work-lab3-mesh", exclusive=True)
    def _mesh(self) -> None:
        from dlworkshop.remote import instances

        def events():
            results = instances.mesh(self._ctx())
            yield from results
            failed = [r for r in results if not r.ok]
            from dlworkshop.events import Log

            yield Log(f"{len(results) - len(failed)} of {len(results)} reached.")

        self._relay(events)

    def _reach_row(self, reach) -> None:
        verdict = "[green]ok[/]" if reach.ok else "[red]failed[/]"
        took = f"{reach.ms:.1f}" if reach.ms is not None else "-"
        self.query_one("#l3-matrix", DataTable).add_row(
            short(reach.source), short(reach.target), str(reach.port), verdict, took)  # fmt: skip

    # ----- logs ------------------------------------------------------------------------
    def toggle_logs(self) -> None:
        if self._logs_stop is not None:
            self._logs_stop.set()
            self._logs_stop = None
            self._say("Stopped following the logs.")
            return
        self._logs_stop = threading.Event()
        # The follower's thread must end with the app, or quitting would wait for it.
        self.host.add_cleanup(self._logs_stop.set)
        for selector in ("#l3-log", "#l3-search"):
            self.query_one(selector).display = True
        self._say("Following the tasks' CloudWatch Logs (l stops, f pauses scrolling)…")
        self._follow_logs(self._logs_stop)

    def on_unmount(self) -> None:
        if self._logs_stop is not None:
            self._logs_stop.set()

    def toggle_follow(self) -> None:
        pane = self.query_one("#l3-log", Log)
        pane.auto_scroll = not pane.auto_scroll
        self._say("Log follows new lines." if pane.auto_scroll else "Log paused at this line.")

    @work(thread=True, group="lab3-logs", exclusive=True)
    def _follow_logs(self, stop: threading.Event) -> None:
        from dlworkshop.aws import logs
        from dlworkshop.errors import explain
        from dlworkshop.events import Failed

        batch: list = []
        last = time.monotonic()

        def flush() -> None:
            nonlocal batch, last
            if batch:
                self.post_message(LogBatch(batch))
            batch, last = [], time.monotonic()

        def idle(seconds: float) -> None:
            flush()  # between polls: show what came in this round
            stop.wait(seconds)

        try:
            for line in logs.follow(self._ctx(), "", 600, True, sleep=idle, stop=stop.is_set):
                batch.append(line)
                if time.monotonic() - last >= LOG_BATCH_EVERY:
                    flush()
            flush()
        except Exception as exc:
            self.post_message(WorkEvent(Failed(f"The logs stopped: {explain(exc)}")))

    def on_log_batch(self, message: LogBatch) -> None:
        fresh = [f"{time.strftime('%H:%M:%S', time.localtime(line.timestamp / 1000))} "
                 f"{line.task} {line.message}" for line in message.lines]  # fmt: skip
        self.add_log_lines(fresh)

    def add_log_lines(self, fresh: list[str]) -> None:
        """Keep the lines for searching; show those that match the search."""
        self._lines.extend(fresh)
        if len(self._lines) > LOG_KEEP:
            del self._lines[: len(self._lines) - LOG_KEEP]
        shown = [line for line in fresh if self._filter in line.lower()]
        if shown:
            self.query_one("#l3-log", Log).write_lines(shown)

    @on(Input.Submitted, "#l3-search")
    def _search(self, event: Input.Submitted) -> None:
        event.stop()
        self._filter = event.value.strip().lower()
        pane = self.query_one("#l3-log", Log)
        pane.clear()
        matching = [line for line in self._lines if self._filter in line.lower()]
        pane.write_lines(matching[-LOG_SHOW:])
        found = f"{len(matching)} line(s) match {event.value!r}" if self._filter else "All lines"
        self._say(f"{found}; the pane shows the newest {min(len(matching), LOG_SHOW)}.")
