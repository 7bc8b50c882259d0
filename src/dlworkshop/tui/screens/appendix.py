"""The Appendix: extra credit. Matrix factorisation and distributed training run here; the
GPU check runs on AWS only (the sandbox has no GPU, and its checkpoint says so)."""

from __future__ import annotations

from collections.abc import Iterator

from textual.widgets import Collapsible, Static

from dlworkshop.tui.screens.lab import LabView
from dlworkshop.tui.widgets.distributed import DistributedPanel
from dlworkshop.tui.widgets.recommender import RecommendPanel


class AppendixView(LabView):
    """The guide, the matrix-factorisation and distributed-training parts, the checkpoints."""

    built = True

    def compose_actions(self) -> Iterator:
        with Collapsible(title="Matrix factorisation", id="appendix-mf-box", collapsed=False):
            yield RecommendPanel(id="appendix-mf")
        with Collapsible(title="Distributed training", id="appendix-dist-box",
                         collapsed=False):  # fmt: skip
            yield DistributedPanel(lambda: self.host.ctx, id="appendix-dist")
        yield Static("GPU: its check runs on AWS with GPU instances (the sandbox has none).",
                     classes="dim", id="appendix-gpu-note")  # fmt: skip

    def factorise(self) -> None:
        panel = self.query_one(RecommendPanel)
        panel.start()
        self.call_after_refresh(panel.scroll_visible)  # below the guide on a narrow screen

    def distribute(self) -> None:
        panel = self.query_one(DistributedPanel)
        panel.start()
        self.call_after_refresh(panel.scroll_visible)

    def stop_distributed(self) -> None:
        self.query_one(DistributedPanel).stop()
