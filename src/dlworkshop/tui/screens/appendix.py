"""The Appendix: extra credit. Matrix factorisation is built; the rest says it is not."""

from __future__ import annotations

from collections.abc import Iterator

from textual.widgets import Static

from dlworkshop.tui.screens.lab import LabView
from dlworkshop.tui.widgets.recommender import RecommendPanel


class AppendixView(LabView):
    """The guide, a matrix-factorisation part, and the three checkpoints."""

    built = True
    KEYS = (("f", "factorise", "Factorise"),)

    def compose_actions(self) -> Iterator:
        # Marked as the unbuilt labs are: two of the three parts are still to come.
        yield Static("Built here: matrix factorisation. Not built yet: distributed training "
                     "and the GPU check (their checkpoints say so).",
                     classes="not-built")  # fmt: skip
        yield RecommendPanel(id="appendix-mf")

    def factorise(self) -> None:
        panel = self.query_one(RecommendPanel)
        panel.start()
        self.call_after_refresh(panel.scroll_visible)  # below the guide on a narrow screen
