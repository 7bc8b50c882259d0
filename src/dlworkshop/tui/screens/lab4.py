"""Lab 4: classify photos through the model server's endpoint; is it a cat?"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import (
    Button,
    Collapsible,
    DataTable,
    DirectoryTree,
    Input,
    Label,
    ProgressBar,
    Static,
)
from textual.worker import get_current_worker

from dlworkshop import checkpoints
from dlworkshop.classifier.registry import DEFAULT_MODEL
from dlworkshop.tui.screens.lab import LabAction, LabView
from dlworkshop.tui.widgets.checkpoints import CheckpointList
from dlworkshop.tui.widgets.jobs import JobsPanel
from dlworkshop.tui.widgets.photo import PhotoPreview
from dlworkshop.tui.widgets.training import ServeTrained, TrainPanel
from dlworkshop.tui.widgets.verdict import TopK, Verdict

if TYPE_CHECKING:
    from dlworkshop.classifier.classify import Classified, ClassifyError
    from dlworkshop.classifier.service import ServerInfo

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
SAMPLE = "<sample cat>"  # resolved to the pinned sample photo inside the worker


class PhotoTree(DirectoryTree):
    """Folders and image files only."""

    def filter_paths(self, paths):
        return [p for p in paths if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES]


class ServerReady(Message):
    def __init__(self, endpoint: str, note: str, started: ServerInfo | None) -> None:
        super().__init__()
        self.endpoint, self.note, self.started = endpoint, note, started


class ServerFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class BatchStarted(Message):
    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total


class PhotoDone(Message):
    def __init__(self, index: int, total: int, event: Classified | ClassifyError,
                 preview: object) -> None:  # fmt: skip
        super().__init__()
        self.index, self.total, self.event, self.preview = index, total, event, preview


class Lab4View(LabView):
    """Pick photos, classify them through the endpoint, and see the verdict."""

    built = True

    def __init__(self, lab) -> None:
        super().__init__(lab)
        self.endpoint: str | None = None
        self.model = DEFAULT_MODEL  # the served model that classifies (a trained one, once served)
        self.results: list = []
        self._server_requested = False

    def compose(self) -> ComposeResult:
        from dlworkshop.classifier.samples import photos_dir

        yield Static(self.lab.label, classes="lab-title")
        with Horizontal(classes="lab-body"):
            with VerticalScroll(classes="l4-pick"):
                with Collapsible(title="Guide", collapsed=True, id="l4-guide",
                                 classes="guide-box"):  # fmt: skip
                    yield self.guide()
                yield Static("Model server: waiting for the connection…", id="l4-server",
                             classes="panel")  # fmt: skip
                # Compact (one line each): the picker column is narrow beside the verdict.
                yield Label("Endpoint (the model server's URL)", classes="dim")
                yield Input(placeholder="http://127.0.0.1:8080", id="l4-endpoint", compact=True)
                yield Label("Photo, folder or URL (enter)", classes="dim")
                with Horizontal(classes="l4-row"):
                    yield Input(placeholder="~/cat.jpg", id="l4-source", compact=True)
                    yield Button("Classify (c)", id="l4-classify", variant="primary",
                                 compact=True)  # fmt: skip
                with Collapsible(title="Train a model", collapsed=True, id="l4-train-box"):
                    yield TrainPanel(id="l4-train")
                with Collapsible(title="Jobs on ECS", collapsed=True, id="l4-jobs-box"):
                    yield JobsPanel(lambda: self.ctx, self._train_options, self._upload_folder,
                                    id="l4-jobs")  # fmt: skip
                yield PhotoTree(photos_dir() or Path.home(), id="l4-tree")
            with VerticalScroll(classes="l4-result"):
                yield Verdict("Pick a photo to classify.", id="l4-verdict", classes="verdict")
                # A batch's progress and table come first; for one photo they stay hidden.
                yield ProgressBar(id="l4-progress", show_eta=False)
                yield DataTable(id="l4-table", cursor_type="row", zebra_stripes=True)
                yield PhotoPreview(id="l4-photo")
                yield TopK(id="l4-topk")
                yield CheckpointList(checkpoints.for_lab(self.lab.id), classes="checkpoints")
                yield Button("Run checks (r)", id=f"run-{self.lab.id}", classes="run-checks")

    def on_mount(self) -> None:
        table = self.query_one("#l4-table", DataTable)
        table.add_columns("#", "Photo", "Verdict", "Cat", "Looks like")
        table.display = False
        self.query_one("#l4-progress").display = False
        chosen = self.host.state.services.get("classify_endpoint", {}).get("endpoint")
        if chosen:
            self.set_endpoint(chosen, "chosen earlier")

    def actions(self) -> list[LabAction]:
        return [
            LabAction("Lab 4: classify the sample cat", "Send the workshop's sample cat photo",
                      self.classify_sample),
            LabAction("Lab 4: start the local model server",
                      "Start `dlworkshop serve` on loopback (sandbox)", self.ensure_server),
        ]  # fmt: skip

    # ----- the endpoint ---------------------------------------------------------------
    def on_show(self) -> None:
        self.ensure_server()

    def ensure_server(self) -> None:
        """In the sandbox, start (or reuse) the local model server once."""
        target = self.host.target
        if self.endpoint or self._server_requested or target is None:
            return  # (still connecting: `connected` calls again)
        if not target.is_sandbox:
            self.query_one("#l4-server", Static).update(
                "Model server: on real AWS, give the endpoint that Lab 3's SSH tunnel "
                "forwards (for example http://127.0.0.1:8080) and press enter."
            )
            return
        self._server_requested = True
        self.query_one("#l4-server", Static).update(
            "Model server: starting `dlworkshop serve` on loopback (the first start fetches "
            "and converts the model)…"
        )
        self._start_server()

    def connected(self) -> None:
        if self.display:  # shown while the app was still connecting
            self.ensure_server()

    @work(thread=True, group="lab4-server", exclusive=True)
    def _start_server(self) -> None:
        from dlworkshop.classifier import service
        from dlworkshop.errors import explain

        try:
            info, started = service.start(owner="tui")
        except Exception as exc:
            self.post_message(ServerFailed(explain(exc)))
            return
        note = "started by this app" if started else f"already running (PID {info.pid})"
        self.post_message(ServerReady(info.endpoint, f"{info.model}, {note}",
                                      info if started else None))  # fmt: skip

    def on_server_ready(self, message: ServerReady) -> None:
        if message.started is not None:
            from dlworkshop.classifier import service

            started = message.started
            self.host.add_cleanup(
                lambda: service.stop(only=started, wait=not self.host.quick_exit)
            )
            self.host.state.services[service.NAME] = started.to_record()
        if not self.endpoint:
            self.set_endpoint(message.endpoint, message.note)

    def on_server_failed(self, message: ServerFailed) -> None:
        self._server_requested = False
        self.query_one("#l4-server", Static).update(f"Model server failed: {message.reason}")
        self.app.notify(message.reason, title="Model server", severity="error", timeout=15)

    def set_endpoint(self, endpoint: str, note: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.query_one("#l4-server", Static).update(f"Model server: {self.endpoint} ({note})")
        box = self.query_one("#l4-endpoint", Input)
        if box.value != self.endpoint:
            box.value = self.endpoint

    @on(Input.Submitted, "#l4-endpoint")
    def _endpoint_typed(self, event: Input.Submitted) -> None:
        value = event.value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            self.app.notify("An endpoint starts with http:// or https://", severity="warning")
            return
        self.set_endpoint(value, "chosen by you")
        record = {"endpoint": value}
        self.host.remember(lambda s: s.services.__setitem__("classify_endpoint", record))

    # ----- training -------------------------------------------------------------------
    def start_training(self) -> None:
        """Open the Train part and start a run with its options."""
        box = self.query_one("#l4-train-box", Collapsible)
        box.collapsed = False
        self.query_one(TrainPanel).start()
        self.call_after_refresh(box.scroll_visible)

    def stop_training(self) -> None:
        self.query_one(TrainPanel).stop()

    def serve_trained(self) -> None:
        self.query_one("#l4-train-box", Collapsible).collapsed = False
        self.query_one(TrainPanel).serve_selected()

    # ----- jobs on ECS ------------------------------------------------------------------
    def _train_options(self) -> dict:
        """The Train part's choices, for a training job."""
        return self.query_one(TrainPanel).choices()

    def _upload_folder(self) -> Path | None:
        """The folder under the photo tree's cursor (a photo's own folder), for uploading."""
        tree = self.query_one(PhotoTree)
        node = tree.cursor_node
        path = node.data.path if node is not None and node.data is not None else Path(tree.path)
        path = Path(path)
        return path if path.is_dir() else path.parent

    def _jobs(self) -> JobsPanel:
        box = self.query_one("#l4-jobs-box", Collapsible)
        box.collapsed = False
        self.call_after_refresh(box.scroll_visible)
        return self.query_one(JobsPanel)

    def train_job(self) -> None:
        self._jobs().run_job("train")

    def predict_job(self) -> None:
        self._jobs().run_job("predict")

    def upload_photos(self) -> None:
        self._jobs().upload()

    def stop_job(self) -> None:
        self._jobs().stop()

    def get_results(self) -> None:
        self._jobs().download()

    def on_serve_trained(self, message: ServeTrained) -> None:
        self._register(message.model)

    @work(thread=True, group="work-lab4-serve", exclusive=True)
    def _register(self, model: str) -> None:
        from dlworkshop.classifier import service
        from dlworkshop.errors import explain

        running = service.current()
        if running is None or not running.management or running.endpoint != self.endpoint:
            self.app.call_from_thread(
                self.app.notify, "Only the local model server this app started can load a "
                "model at run time; elsewhere run `dlworkshop serve --model NAME`.",
                title="Serve", severity="warning")  # fmt: skip
            return
        self.app.call_from_thread(self.query_one("#l4-server", Static).update,
                                  f"Loading {model} into the model server…")  # fmt: skip
        try:
            service.register(running, model)
        except Exception as exc:
            self.app.call_from_thread(self.app.notify, explain(exc), title="Serve",
                                      severity="error")  # fmt: skip
            return
        self.model = model
        self.app.call_from_thread(self.set_endpoint, running.endpoint,
                                  f"classifying with {model}")  # fmt: skip

    # ----- classifying ----------------------------------------------------------------
    @on(Input.Submitted, "#l4-source")
    @on(Button.Pressed, "#l4-classify")
    def _classify_typed(self, event) -> None:
        event.stop()
        self.classify_typed()

    def classify_typed(self) -> None:
        """Classify what the photo field holds (a file, a folder or a URL)."""
        value = self.query_one("#l4-source", Input).value.strip()
        if not value:
            self.app.notify("Type a photo's path, a folder or a URL first.", severity="warning")
            return
        self.classify([value])

    @on(DirectoryTree.FileSelected, "#l4-tree")
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self.classify([str(event.path)])

    @on(DirectoryTree.DirectorySelected, "#l4-tree")
    def _folder_picked(self, event: DirectoryTree.DirectorySelected) -> None:
        if event.path != self.query_one(PhotoTree).path:
            self.query_one("#l4-source", Input).value = str(event.path)

    def classify_sample(self) -> None:
        # The sample may need downloading: the worker fetches it, not the UI thread.
        self.classify([SAMPLE])

    def classify(self, sources: list[str]) -> None:
        """Classify files, folders or URLs through the endpoint, in a worker."""
        if not self.endpoint:
            self.app.notify("There is no model server endpoint yet.", severity="warning")
            self.ensure_server()
            return
        self.query_one("#l4-verdict", Verdict).show_waiting("Classifying…")
        self._classify(sources, self.endpoint)

    @work(thread=True, group="work-lab4", exclusive=True)
    def _classify(self, sources: list[str], endpoint: str) -> None:
        from dlworkshop.classifier import classify, preprocess
        from dlworkshop.tui.widgets.photo import thumbnail

        model = self.model

        worker = get_current_worker()
        if SAMPLE in sources:
            from dlworkshop.classifier.samples import sample_cat
            from dlworkshop.errors import explain

            try:
                sources = [str(sample_cat()) if s == SAMPLE else s for s in sources]
            except Exception as exc:
                self.post_message(BatchStarted(1))
                self.post_message(
                    PhotoDone(0, 1, classify.ClassifyError("sample cat", explain(exc)), None)
                )
                return
        import httpx

        expanded = classify.expand(sources)
        self.post_message(BatchStarted(len(expanded)))
        with httpx.Client(timeout=60) as client:
            for i, source in enumerate(expanded):
                if worker.is_cancelled:
                    return
                preview = None
                event: Classified | ClassifyError
                try:
                    data = classify.read_source(source)  # read once: verdict and preview
                except Exception as exc:
                    event = classify.ClassifyError(source, classify.error_text(exc))
                else:
                    event = classify.post_image(client, endpoint, model, source, data)
                    if isinstance(event, classify.Classified):
                        # The verdict matters; a photo that will not draw does not.
                        with contextlib.suppress(Exception):
                            preview = thumbnail(preprocess.decode(data))
                self.post_message(PhotoDone(i, len(expanded), event, preview))

    def on_batch_started(self, message: BatchStarted) -> None:
        self.results = []
        table = self.query_one("#l4-table", DataTable)
        table.clear()
        batch = message.total > 1
        table.display = batch
        bar = self.query_one("#l4-progress", ProgressBar)
        bar.display = batch
        bar.update(total=max(message.total, 1), progress=0)
        if message.total == 0:
            self.query_one("#l4-verdict", Verdict).show_waiting("No images found there.")

    def on_photo_done(self, message: PhotoDone) -> None:
        from dlworkshop.classifier.classify import Classified

        event = message.event
        self.results.append((event, message.preview))
        self.query_one("#l4-progress", ProgressBar).update(progress=message.index + 1)
        self._show(event, message.preview)
        if message.total > 1:
            name = Path(event.source).name if "://" not in event.source else event.source
            if isinstance(event, Classified):
                row = (
                    str(message.index + 1),
                    name,
                    "CAT" if event.is_cat else "not a cat",
                    f"{event.cat_probability:.1%}",
                    event.top_k[0]["label"].split(",")[0],
                )
            else:
                row = (str(message.index + 1), name, "error", "", event.error[:40])
            self.query_one("#l4-table", DataTable).add_row(*row, key=str(message.index))

    def _show(self, event, preview) -> None:
        from dlworkshop.classifier.classify import Classified

        verdict = self.query_one("#l4-verdict", Verdict)
        topk = self.query_one("#l4-topk", TopK)
        if isinstance(event, Classified):
            verdict.show(event.is_cat, event.cat_probability, event.source)
            topk.show(event.top_k)
            self.query_one(PhotoPreview).show(preview, Path(event.source).name)
        else:
            verdict.show_error(event.source, event.error)
            topk.clear()
            self.query_one(PhotoPreview).show(None, "")

    @on(DataTable.RowHighlighted, "#l4-table")
    def _row_picked(self, event: DataTable.RowHighlighted) -> None:
        index = int(event.row_key.value) if event.row_key and event.row_key.value else -1
        if 0 <= index < len(self.results):
            self._show(*self.results[index])
