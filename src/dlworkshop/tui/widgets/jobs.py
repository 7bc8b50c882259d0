"""Lab 4's ECS jobs part: upload photos, run a train or predict job on the cluster, follow
its state and log live, list the jobs with their results, and download one.

The work is aws/jobs.py's generators, run in worker threads; this widget only shows their
events. Stop asks ECS to stop the job's task and follows it until it has stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, RichLog, Static
from textual.worker import get_current_worker

from dlworkshop.tui.widgets.tables import cursor_key

RESULTS_DIR = Path("~/dlworkshop-results")  # where "Get results" puts a job's files


class JobEvent(Message):
    """An event of the job being followed (None with done=True when its worker ends)."""

    def __init__(self, event, done: bool = False) -> None:
        super().__init__()
        self.event, self.done = event, done


class JobsListed(Message):
    def __init__(self, jobs: list, error: str = "") -> None:
        super().__init__()
        self.jobs, self.error = jobs, error


def relay(widget, events: Callable, message: type) -> None:
    """In a worker thread: post each event to the UI as `message(event)`, any exception as a
    Failed event, and `message(None, done=True)` at the end."""
    from dlworkshop.errors import explain
    from dlworkshop.events import Failed

    try:
        for event in events():
            if get_current_worker().is_cancelled:
                break  # the app is closing: stop following, leave the work running
            widget.post_message(message(event))
    except Exception as exc:  # no stack, no image, no photos: say so and stay usable
        widget.post_message(message(Failed(explain(exc))))
    widget.post_message(message(None, done=True))


def event_line(event) -> Text:
    """One event as a line of the job's log."""
    from dlworkshop.aws.taskdef import TaskDefinitionReady
    from dlworkshop.events import Failed, Log

    if isinstance(event, Log):
        return Text(event.message, style={"warning": "yellow", "error": "red"}.get(event.level, ""))
    if isinstance(event, Failed):
        return Text(f"{event.message} {event.hint}".strip(), style="red")
    if isinstance(event, TaskDefinitionReady):  # the JSON is Lab 3's to show
        what = "registered" if event.registered else "unchanged"
        return Text(f"Task definition {event.family}:{event.revision} ({what})")
    render = getattr(event, "render_text", None)
    return Text.from_markup(render()) if callable(render) else Text(str(event))


class JobsPanel(Vertical):
    """Jobs on the cluster: start, follow, stop, list, download."""

    def __init__(self, ctx: Callable[[], object], options: Callable[[], dict],
                 photos: Callable[[], Path | None], **kwargs) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.context_of = ctx  # the app's Context (or None while connecting)
        self.train_choices = options  # the Train part's dataset, network and epochs
        self.folder_of = photos  # the folder "Upload photos" sends
        self._halt = threading.Event()
        self.busy = False

    def compose(self):
        with Horizontal(classes="tr-row"):
            yield Button("Train (j)", id="jb-train", variant="primary", compact=True)
            yield Button("Predict (k)", id="jb-predict", compact=True)
        with Horizontal(classes="tr-row"):
            yield Button("Upload (u)", id="jb-upload", compact=True)
            yield Button("Results (g)", id="jb-get", compact=True)
        with Horizontal(classes="tr-row"):
            yield Button("Stop (x)", id="jb-stop", variant="error", compact=True, disabled=True)
            yield Button("List", id="jb-list", compact=True)
        yield Static("Jobs run as ECS tasks; results go to the output bucket.", id="jb-status",
                     classes="dim")  # fmt: skip
        # min_width: RichLog wraps at 78 columns by default, wider than this column.
        yield RichLog(id="jb-log", wrap=True, markup=True, max_lines=500, min_width=20)
        yield DataTable(id="jb-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#jb-table", DataTable).add_columns("Run", "Kind", "Status", "Result")
        self.query_one("#jb-log", RichLog).display = False
        self.query_one("#jb-table", DataTable).display = False

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"jb-train": lambda: self.run_job("train"),
                   "jb-predict": lambda: self.run_job("predict"), "jb-stop": self.stop,
                   "jb-upload": self.upload, "jb-get": self.download,
                   "jb-list": self.refresh_jobs}  # fmt: skip
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def _say(self, text: str | Text) -> None:
        self.query_one("#jb-status", Static).update(text)

    def _connected_ctx(self):
        from dlworkshop.errors import UserError

        ctx = self.context_of()
        if ctx is None:
            raise UserError("Not connected yet: wait for the header to show the target.")
        return ctx

    def _relay(self, events: Callable) -> None:
        relay(self, events, JobEvent)

    def _begin(self, text: str) -> bool:
        if self.busy:
            self.app.notify("A job is being followed; Stop (x) it or wait.", severity="warning")
            return False
        self.busy = True
        self._halt.clear()
        log = self.query_one("#jb-log", RichLog)
        log.clear()
        log.display = True
        self._say(text)
        for button in ("#jb-train", "#jb-predict", "#jb-upload"):
            self.query_one(button, Button).disabled = True
        return True

    # ----- actions --------------------------------------------------------------------
    def run_job(self, kind: str) -> None:
        options = self.train_choices() if kind == "train" else {}
        if not self._begin(f"Starting a {kind} job…"):
            return
        self.query_one("#jb-stop", Button).disabled = False
        self._run(kind, options)

    @work(thread=True, group="work-lab4-job", exclusive=True)
    def _run(self, kind: str, options: dict) -> None:
        from dlworkshop.aws import jobs

        self._relay(lambda: jobs.run(self._connected_ctx(), kind, options, stop=self._halt.is_set))

    def stop(self) -> None:
        if not self.busy:
            return
        self._halt.set()
        self._say("Stopping the job's task…")

    def upload(self) -> None:
        folder = self.folder_of()
        if folder is None:
            self.app.notify("No photo folder to upload: use `dlworkshop upload PATH`.",
                            severity="warning")  # fmt: skip
            return
        if self._begin(f"Uploading the photos of {folder}…"):
            self._upload(str(folder))

    @work(thread=True, group="work-lab4-job", exclusive=True)
    def _upload(self, folder: str) -> None:
        from dlworkshop.aws import jobs

        self._relay(lambda: jobs.upload(self._connected_ctx(), folder))

    def download(self) -> None:
        run_id = cursor_key(self.query_one("#jb-table", DataTable))
        if run_id is None:
            self.app.notify("No job to download yet: List, then pick one.", severity="warning")
            return
        if self._begin(f"Downloading {run_id}…"):
            self._download(run_id)

    @work(thread=True, group="work-lab4-job", exclusive=True)
    def _download(self, run_id: str) -> None:
        from dlworkshop.aws import jobs

        self._relay(lambda: jobs.download(self._connected_ctx(), run_id, str(RESULTS_DIR)))

    def refresh_jobs(self) -> None:
        self._list()

    @work(thread=True, group="lab4-jobs-list", exclusive=True)
    def _list(self) -> None:
        from dlworkshop.aws import jobs
        from dlworkshop.errors import explain

        try:
            self.post_message(JobsListed(jobs.listed(self._connected_ctx())))
        except Exception as exc:
            self.post_message(JobsListed([], explain(exc)))

    # ----- showing --------------------------------------------------------------------
    def on_job_event(self, message: JobEvent) -> None:
        from dlworkshop.aws import jobs
        from dlworkshop.events import Failed

        event = message.event
        log = self.query_one("#jb-log", RichLog)
        if message.done:
            self.busy = False
            for button in ("#jb-train", "#jb-predict", "#jb-upload"):
                self.query_one(button, Button).disabled = False
            self.query_one("#jb-stop", Button).disabled = True
            self.refresh_jobs()
            return
        log.write(event_line(event))
        if isinstance(event, jobs.JobStarted):
            self._say(f"{event.kind.capitalize()} job {event.run_id}: task {event.task_id[:8]} "
                      "started; its log follows. (x stops it)")  # fmt: skip
        elif isinstance(event, jobs.JobFinished):
            self._say(Text(f"{event.kind.capitalize()} job {event.run_id} finished: "
                           f"{event.summary}.", style="green"))  # fmt: skip
        elif isinstance(event, jobs.Uploaded | jobs.Downloaded):
            self._say(Text.from_markup(event.render_text()))
        elif isinstance(event, Failed):
            self._say(Text(event.message, style="red"))
            self.app.notify(event.message, title="Job", severity="error")

    def on_jobs_listed(self, message: JobsListed) -> None:
        table = self.query_one("#jb-table", DataTable)
        table.clear()
        if message.error:
            self._say(Text(message.error, style="red"))
            return
        for job in message.jobs:
            key = job.run_id or job.task_id
            table.add_row(job.run_id or job.task_id[:8], job.kind, job.status, job.summary,
                          key=key)  # fmt: skip
        table.display = table.row_count > 0
