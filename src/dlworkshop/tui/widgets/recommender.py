"""The Appendix's matrix factorisation part: train, watch the held-out RMSE fall below the
baselines epoch by epoch, and read the recommendations.

Like Lab 4's Train part, the run is a child process (`dlworkshop --json train --task
recommend`) read line by line in a worker thread, so MXNet never competes with the UI.
"""

from __future__ import annotations

import subprocess
import sys

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from dlworkshop.tui.widgets import child


class RecommendLine(Message):
    def __init__(self, event: dict) -> None:
        super().__init__()
        self.event = event


class RecommendEnded(Message):
    def __init__(self, code: int, error: str) -> None:
        super().__init__()
        self.code, self.error = code, error


class RecommendPanel(Vertical):
    """Choose a rating set and a user, factorise, and see RMSE and recommendations."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.proc: subprocess.Popen | None = None
        self.epochs: list[dict] = []
        self.baselines: dict = {}

    def compose(self):
        from dlworkshop.classifier.recommend import DATASETS

        with Horizontal(classes="tr-row"):
            yield Label("Data", classes="dim")
            yield Select([(n, n) for n in DATASETS], value=DATASETS[0], id="mf-dataset",
                         allow_blank=False, compact=True)  # fmt: skip
        with Horizontal(classes="tr-row"):
            yield Label("User", classes="dim")
            yield Input("0", id="mf-user", type="integer", compact=True)
            yield Button("Factorise (f)", id="mf-start", variant="primary", compact=True)
        yield Static("Matrix factorisation: not run yet.", id="mf-status", classes="dim")
        yield Vertical(id="mf-plot-box")
        yield DataTable(id="mf-recs", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#mf-recs", DataTable)
        table.add_columns("#", "Item", "Score")
        table.display = False
        self.query_one("#mf-plot-box").display = False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @on(Button.Pressed, "#mf-start")
    def _start_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.start()

    def start(self) -> None:
        if self.running:
            self.app.notify("A factorisation is running; wait for it.", severity="warning")
            return
        user = self.query_one("#mf-user", Input).value.strip() or "0"
        if not user.isdigit():
            self.app.notify("The user is a number, from 0.", severity="error")
            return
        argv = [sys.executable, "-m", "dlworkshop", "--json", "train", "--task", "recommend",
                "--dataset", str(self.query_one("#mf-dataset", Select).value), "--user", user]
        self.epochs, self.baselines = [], {}
        self.query_one("#mf-status", Static).update("Starting (loading the ratings and MXNet)…")
        self.query_one("#mf-start", Button).disabled = True
        self.proc = child.start(argv, self.app)
        self._follow(self.proc)

    @work(thread=True, group="work-recommend")
    def _follow(self, proc: subprocess.Popen) -> None:
        code, error = child.relay(proc, lambda event: self.post_message(RecommendLine(event)))
        self.post_message(RecommendEnded(code, error))

    def on_recommend_line(self, message: RecommendLine) -> None:
        event, kind = message.event, message.event.get("type")
        status = self.query_one("#mf-status", Static)
        if kind == "recommend_started":
            self.baselines = event["baselines"]
            status.update(f"{event['dataset']}: {event['users']} users, {event['items']} items, "
                          f"{event['ratings']:,} ratings; item-mean RMSE "
                          f"{self.baselines['item mean']:.4f}…")  # fmt: skip
        elif kind == "recommend_epoch":
            self.epochs.append(event)
            status.update(f"Epoch {event['epoch']}/{event['epochs']}: held-out RMSE "
                          f"{event['test_rmse']:.4f} (item mean "
                          f"{self.baselines.get('item mean', 0):.4f})")  # fmt: skip
            self._draw_plot()
        elif kind == "recommend_done":
            status.update(Text(f"Held-out RMSE {event['test_rmse']:.4f}, {event['gain']:.0%} "
                               f"below the item mean's {event['baselines']['item mean']:.4f}. "
                               f"Top {len(event['recommendations'])} for user {event['user']}:",
                               style="green"))  # fmt: skip
            table = self.query_one("#mf-recs", DataTable)
            table.clear()
            for n, r in enumerate(event["recommendations"], 1):
                table.add_row(str(n), r["title"], f"{r['score']:.2f}")
            table.display = True

    def on_recommend_ended(self, message: RecommendEnded) -> None:
        self.query_one("#mf-start", Button).disabled = False
        if message.code:
            self.query_one("#mf-status", Static).update(
                Text(f"Factorisation failed: {message.error}", style="red"))
            self.app.notify(message.error or "Factorisation failed.", severity="error")
            return
        run_checks = getattr(self.app, "run_checks", None)
        if run_checks is not None:
            run_checks("appendix")  # the checkpoint reads what this run left

    def _draw_plot(self) -> None:
        """Held-out and training RMSE per epoch, the item mean as a line to beat."""
        from textual_plotext import PlotextPlot

        box = self.query_one("#mf-plot-box", Vertical)
        if not box.query(PlotextPlot):
            box.mount(PlotextPlot(id="mf-plot"))
        box.display = True
        plot = box.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        x = [e["epoch"] for e in self.epochs]
        plt.plot(x, [e["test_rmse"] for e in self.epochs], label="held out", marker="braille")
        plt.plot(x, [e["train_rmse"] for e in self.epochs], label="train", marker="braille")
        if "item mean" in self.baselines:
            plt.plot(x, [self.baselines["item mean"]] * len(x), label="item mean",
                     marker="braille")  # fmt: skip
        plt.xlabel("epoch")
        plt.title("RMSE")
        plot.refresh()
