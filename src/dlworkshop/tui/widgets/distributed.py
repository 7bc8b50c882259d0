"""The Appendix's distributed training part: train on the cluster's instances at once (MXNet's
parameter server as ECS tasks), watch each worker's speed and the shared accuracy curve,
and read the speed-up against one instance.

The work is aws/distributed.py's generator, run in a worker thread; no MXNet runs here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, RichLog, Select, Static

from dlworkshop.tui.widgets.jobs import event_line, relay

NETWORKS = ("lenet", "mlp", "cnn")  # what trains in minutes on CPU instances


class DistEvent(Message):
    """An event of the run being followed (None with done=True when its worker ends)."""

    def __init__(self, event, done: bool = False) -> None:
        super().__init__()
        self.event, self.done = event, done


class DistributedPanel(Vertical):
    """Choose a network and epochs, distribute, follow the workers, compare with one."""

    def __init__(self, ctx: Callable[[], object], **kwargs) -> None:
        super().__init__(**kwargs)
        self.context_of = ctx  # the app's Context (or None while connecting)
        self._halt = threading.Event()
        self.busy = False
        self.baseline: list[dict] = []  # the single instance's epochs, when known
        self.shared: list[dict] = []  # the first worker's epochs: every worker's weights

    def compose(self):
        with Horizontal(classes="tr-row"):
            yield Label("Net", classes="dim")
            yield Select([(n, n) for n in NETWORKS], value="lenet", id="ds-network",
                         allow_blank=False, compact=True)  # fmt: skip
            yield Label("Epochs", classes="dim")
            yield Input("2", id="ds-epochs", type="integer", compact=True)
        with Horizontal(classes="tr-row"):
            yield Button("Distribute (d)", id="ds-start", variant="primary", compact=True)
            yield Button("Stop (x)", id="ds-stop", variant="error", compact=True, disabled=True)
        yield Static("Distributed training: one task per instance, not run yet.",
                     id="ds-status", classes="dim")  # fmt: skip
        yield DataTable(id="ds-workers", cursor_type="row", zebra_stripes=True)
        yield Vertical(id="ds-plot-box")
        # min_width: RichLog wraps at 78 columns by default, wider than this column.
        yield RichLog(id="ds-log", wrap=True, markup=True, max_lines=500, min_width=20)

    def on_mount(self) -> None:
        table = self.query_one("#ds-workers", DataTable)
        table.add_columns("Worker", "Host", "Epoch · batch", "Samples/s", "Accuracy")
        for hidden in ("#ds-workers", "#ds-plot-box", "#ds-log"):
            self.query_one(hidden).display = False

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"ds-start": self.start, "ds-stop": self.stop}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    def _say(self, text: str | Text) -> None:
        self.query_one("#ds-status", Static).update(text)

    def start(self) -> None:
        if self.busy:
            self.app.notify("A distributed run is being followed; Stop (x) it or wait.",
                            severity="warning")  # fmt: skip
            return
        epochs = self.query_one("#ds-epochs", Input).value.strip()
        if not epochs.isdigit() or int(epochs) < 1:
            self.app.notify("Epochs is a whole number, at least 1.", severity="error")
            return
        options = {"network": str(self.query_one("#ds-network", Select).value),
                   "epochs": int(epochs), "dataset": "fashion-mnist"}  # fmt: skip
        self.busy = True
        self._halt.clear()
        self.baseline, self.shared = [], []
        self.query_one("#ds-workers", DataTable).clear()
        self.query_one("#ds-plot-box").display = False  # the last run's curves are not this one's
        log = self.query_one("#ds-log", RichLog)
        log.clear()
        log.display = True
        self.query_one("#ds-start", Button).disabled = True
        self.query_one("#ds-stop", Button).disabled = False
        self._say("Starting: one instance first (once per settings), then all of them…")
        self._run(options)

    @work(thread=True, group="work-appendix-dist", exclusive=True)
    def _run(self, options: dict) -> None:
        from dlworkshop.aws import distributed
        from dlworkshop.errors import UserError

        def events():
            ctx = self.context_of()
            if ctx is None:
                raise UserError("Not connected yet: wait for the header to show the target.")
            return distributed.run(ctx, options, 2, stop=self._halt.is_set)

        relay(self, events, DistEvent)

    def stop(self) -> None:
        if self.busy:
            self._halt.set()
            self._say("Stopping the run's tasks…")

    def on_dist_event(self, message: DistEvent) -> None:
        from dlworkshop.aws import distributed, jobs
        from dlworkshop.events import Failed

        event = message.event
        if message.done:
            self.busy = False
            self.query_one("#ds-start", Button).disabled = False
            self.query_one("#ds-stop", Button).disabled = True
            run_checks = getattr(self.app, "run_checks", None)
            if run_checks is not None:
                run_checks("appendix")  # the checkpoint reads what this run left
            return
        if not isinstance(event, distributed.WorkerStatus):  # the table shows those
            self.query_one("#ds-log", RichLog).write(event_line(event))
        if isinstance(event, jobs.JobStarted):
            self._say(f"One instance first: job {event.run_id} (task {event.task_id[:8]})…")
        elif isinstance(event, distributed.BaselineReady):
            self.baseline = list(event.history)
            self._draw_plot()  # the curve to match, before the workers start
        elif isinstance(event, distributed.DistributedStarted):
            self._say(f"Run {event.run_id}: {len(event.nodes)} tasks, scheduler on "
                      f"{event.nodes[0]['address']}; waiting for the workers…")  # fmt: skip
        elif isinstance(event, distributed.WorkerStatus):
            self._worker(event)
        elif isinstance(event, distributed.DistributedDone):
            delta = event.test_accuracy - event.baseline_accuracy
            self._say(Text(f"Test accuracy {event.test_accuracy:.4f} (one instance "
                           f"{event.baseline_accuracy:.4f}, {delta:+.4f}); "
                           f"{event.samples_per_s:,.0f} samples/s together against "
                           f"{event.baseline_samples_per_s:,.0f}: {event.speedup:.2f}x.",
                           style="green"))  # fmt: skip
        elif isinstance(event, Failed):
            self._say(Text(event.message, style="red"))
            self.app.notify(event.message, title="Distributed training", severity="error")

    def _worker(self, status) -> None:
        """A worker's row, and the shared curve when the first worker finishes an epoch."""
        table = self.query_one("#ds-workers", DataTable)
        if not table.display:
            self._say(f"Run {status.run_id}: the workers are training (x stops them).")
        table.display = True
        last = status.history[-1] if status.history else {}
        progress = "finished" if status.state == "finished" else \
            f"{status.epoch}/{status.epochs or '?'} · {status.batch}/{status.batches}"
        row = (f"{status.rank}", status.host, progress, f"{status.samples_per_s:,.0f}",
               f"{last['val_accuracy']:.4f}" if last else "")  # fmt: skip
        key = str(status.rank)
        if key in table.rows:
            for column, value in zip(table.columns, row, strict=True):
                table.update_cell(key, column, value)
        else:
            table.add_row(*row, key=key)
        if status.rank == 0 and len(status.history) > len(self.shared):
            self.shared = list(status.history)
            self._draw_plot()

    def _draw_plot(self) -> None:
        """Validation accuracy per epoch: the distributed run's, and one instance's."""
        from textual_plotext import PlotextPlot

        box = self.query_one("#ds-plot-box", Vertical)
        if not box.query(PlotextPlot):
            box.mount(PlotextPlot(id="ds-plot"))
        box.display = True
        plot = box.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        if self.shared:
            plt.plot([e["epoch"] for e in self.shared],
                     [e["val_accuracy"] for e in self.shared], label="2 instances",
                     marker="braille")  # fmt: skip
        if self.baseline:
            plt.plot([e["epoch"] for e in self.baseline],
                     [e["val_accuracy"] for e in self.baseline], label="1 instance",
                     marker="braille")  # fmt: skip
        plt.xlabel("epoch")
        plt.title("validation accuracy")
        plot.refresh()
