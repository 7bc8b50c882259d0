"""Lab 4's Train part: options, Start and Stop, progress, a live plot, and past runs.

Training runs in a child process (`dlworkshop --json train`), read line by line in a
worker thread: MXNet's thread count must be set before it loads, its work never
competes with the UI for the GIL, and Stop really stops it (the process is terminated;
an export is written aside and renamed, so a stopped run leaves nothing that looks
complete).
"""

from __future__ import annotations

import json
import subprocess
import sys

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static

from dlworkshop.tui.widgets import child
from dlworkshop.tui.widgets.tables import cursor_key


class TrainLine(Message):
    """One event from the training process (as its JSON dict)."""

    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


class TrainEnded(Message):
    def __init__(self, code: int, stopped: bool, error: str) -> None:
        super().__init__()
        self.code, self.stopped, self.error = code, stopped, error


class ServeTrained(Message):
    """The learner asked to classify with this trained model."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model


def past_runs() -> list[dict]:
    """Trained models in the cache, newest first, with their metrics."""
    from dlworkshop.classifier.registry import trained_dir, trained_models

    rows = []
    for name in trained_models():
        try:
            metrics = json.loads((trained_dir() / name / "metrics.json").read_text())
        except (OSError, ValueError):
            metrics = {}
        rows.append({"model": name, "network": metrics.get("network", "?"),
                     "dataset": metrics.get("dataset", "?"), "epochs": metrics.get("epochs", 0),
                     "accuracy": metrics.get("test_accuracy", 0.0),
                     "run": metrics.get("run_id", "")})  # fmt: skip
    return sorted(rows, key=lambda r: r["run"], reverse=True)


class TrainPanel(Vertical):
    """Choose, train, watch, and serve what was trained."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.proc: subprocess.Popen | None = None
        self.epochs: list[dict] = []
        self._stopping = False

    def compose(self):
        from dlworkshop.classifier.datasets import NAMES
        from dlworkshop.classifier.train import DEFAULTS, NETWORKS

        with Horizontal(classes="tr-row"):
            yield Label("Data", classes="dim")
            yield Select([(n, n) for n in NAMES], value=DEFAULTS["dataset"], id="tr-dataset",
                         allow_blank=False, compact=True)  # fmt: skip
        with Horizontal(classes="tr-row"):
            yield Label("Net ", classes="dim")
            yield Select([(n, n) for n in NETWORKS], value=DEFAULTS["network"],
                         id="tr-network", allow_blank=False, compact=True)  # fmt: skip
            yield Label(" Epochs", classes="dim")
            yield Input(str(DEFAULTS["epochs"]), id="tr-epochs", type="integer", compact=True)
        with Horizontal(classes="tr-row"):
            yield Button("Train (t)", id="tr-start", variant="primary", compact=True)
            yield Button("Stop (o)", id="tr-stop", variant="error", compact=True, disabled=True)
            yield Button("Serve (m)", id="tr-serve", compact=True)
        yield ProgressBar(id="tr-progress", show_eta=False)
        yield Static("No training yet.", id="tr-status", classes="dim")
        yield Vertical(id="tr-plot-box")
        yield DataTable(id="tr-runs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#tr-runs", DataTable)
        table.add_columns("Model run", "Net", "Data", "Ep", "Acc")
        self.refresh_runs()

    def refresh_runs(self) -> None:
        table = self.query_one("#tr-runs", DataTable)
        table.clear()
        for r in past_runs():
            table.add_row(r["run"], r["network"], r["dataset"], str(r["epochs"]),
                          f"{r['accuracy']:.3f}", key=r["model"])  # fmt: skip
        table.display = table.row_count > 0

    def choices(self) -> dict:
        """The dataset, network and epochs chosen (epochs None when not a number)."""
        epochs = self.query_one("#tr-epochs", Input).value.strip()
        return {"dataset": str(self.query_one("#tr-dataset", Select).value),
                "network": str(self.query_one("#tr-network", Select).value),
                "epochs": int(epochs) if epochs.isdigit() else None}  # fmt: skip

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ----- start and stop -------------------------------------------------------------
    @on(Button.Pressed, "#tr-start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start()

    @on(Button.Pressed, "#tr-stop")
    def _stop_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.stop()

    @on(Button.Pressed, "#tr-serve")
    def _serve_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.serve_selected()

    def start(self) -> None:
        if self.running:
            self.app.notify("A training run is already going; Stop (o) first.", severity="warning")
            return
        epochs = self.query_one("#tr-epochs", Input).value.strip() or "0"
        if not epochs.isdigit() or int(epochs) < 1:
            self.app.notify("Epochs must be a whole number of at least 1.", severity="error")
            return
        argv = [sys.executable, "-m", "dlworkshop", "--json", "train",
                "--dataset", str(self.query_one("#tr-dataset", Select).value),
                "--network", str(self.query_one("#tr-network", Select).value),
                "--epochs", epochs]  # fmt: skip
        self.epochs = []
        self._stopping = False
        self._draw_plot()
        self.query_one("#tr-status", Static).update("Starting (loading the data and MXNet)…")
        self.query_one("#tr-progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#tr-start", Button).disabled = True
        self.query_one("#tr-stop", Button).disabled = False
        self.proc = child.start(argv, self.app)
        self._follow(self.proc)

    def stop(self) -> None:
        if not self.running:
            return
        self._stopping = True
        assert self.proc is not None
        self.proc.terminate()
        self.query_one("#tr-status", Static).update("Stopping…")

    @work(thread=True, group="work-train")
    def _follow(self, proc: subprocess.Popen) -> None:
        code, error = child.relay(proc, lambda event: self.post_message(TrainLine(event)))
        self.post_message(TrainEnded(code, self._stopping, error))

    # ----- showing progress -----------------------------------------------------------
    def on_train_line(self, message: TrainLine) -> None:
        event, kind = message.event, message.event.get("type")
        status = self.query_one("#tr-status", Static)
        bar = self.query_one("#tr-progress", ProgressBar)
        if kind == "train_started":
            processes = event.get("processes", 1)
            how = (f"{processes} processes sharing each batch" if processes > 1
                   else f"{event['threads']} thread(s)")
            status.update(f"{event['network']} on {event['dataset']}: {event['train_samples']:,}"
                          f" images, {how}…")  # fmt: skip
        elif kind == "train_progress":
            bar.update(total=event["batches"], progress=event["batch"])
            status.update(f"Epoch {event['epoch']}/{event['epochs']} · loss {event['loss']:.3f}"
                          f" · {event['samples_per_s']:,.0f} samples/s · ETA "
                          f"{event['eta_s']:.0f} s")  # fmt: skip
        elif kind == "epoch_done":
            self.epochs.append(event)
            bar.update(progress=bar.total or 0)
            status.update(f"Epoch {event['epoch']}/{event['epochs']}: validation accuracy "
                          f"{event['val_accuracy']:.4f} · {event['samples_per_s']:,.0f} "
                          f"samples/s · ETA {event['eta_s']:.0f} s")  # fmt: skip
            self._draw_plot()
        elif kind == "train_done":
            status.update(Text(f"Trained {event['model']}: test accuracy "
                               f"{event['test_accuracy']:.4f}. Serve it (m) to classify "
                               "with it.", style="green"))  # fmt: skip
            self.refresh_runs()
            table = self.query_one("#tr-runs", DataTable)
            if table.row_count:
                table.move_cursor(row=0)

    def on_train_ended(self, message: TrainEnded) -> None:
        self.query_one("#tr-start", Button).disabled = False
        self.query_one("#tr-stop", Button).disabled = True
        status = self.query_one("#tr-status", Static)
        if message.stopped:
            status.update("Stopped; nothing was exported.")
        elif message.code:
            status.update(Text(f"Training failed: {message.error}", style="red"))
            self.app.notify(message.error or "Training failed.", title="Train",
                            severity="error")  # fmt: skip

    def _draw_plot(self) -> None:
        """Loss and validation accuracy per epoch (plotext is loaded on first use)."""
        box = self.query_one("#tr-plot-box", Vertical)
        if not self.epochs:
            box.display = False
            return
        from textual_plotext import PlotextPlot

        if not box.query(PlotextPlot):
            box.mount(PlotextPlot(id="tr-plot"))
        box.display = True
        plot = box.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        x = [e["epoch"] for e in self.epochs]
        # Loss on the left axis, accuracy on the right: on one scale, accuracy's last few
        # points (0.86 .. 0.90) would look flat next to the loss falling from 0.5.
        plt.plot(x, [e["loss"] for e in self.epochs], label="loss", marker="braille")
        plt.plot(x, [e["val_accuracy"] for e in self.epochs], label="val accuracy",
                 marker="braille", yside="right")  # fmt: skip
        plt.xticks(x)
        plt.xlabel("epoch")
        plt.title("loss (left), validation accuracy (right)")
        plot.refresh()

    def serve_selected(self) -> None:
        key = cursor_key(self.query_one("#tr-runs", DataTable))
        if key is None:
            self.app.notify("No trained model yet: Train (t) first.", severity="warning")
            return
        self.post_message(ServeTrained(key))
