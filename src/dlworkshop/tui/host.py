"""What the lab screens may use of the app: a typed view, so screens never guess."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from textual.widget import Widget

    from dlworkshop.context import Context
    from dlworkshop.state import State
    from dlworkshop.target import Target


class Host(Protocol):
    """The app as the screens see it (WorkshopApp implements it)."""

    state: State
    target: Target | None
    ctx: Context | None
    connect_error: str | None
    quick_exit: bool  # True: quitting ends the process at once, helpers stop in the background

    def run_checks(self, lab_id: str) -> None:
        """Run a lab's checkpoints (in workers)."""

    def recheck_passes(self, lab_ids: list[str] | None = None) -> None:
        """Recheck every pass cheaply (in a worker); those no longer true show as gone."""

    def remember(self, change: Callable[[State], None]) -> None:
        """Change the saved state (atomically) and the app's copy."""

    def switch_region(self, region: str) -> None:
        """Work in another region from now on."""

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        """Run `cleanup` when the app exits."""

    def refresh_subtitle(self) -> None:
        """Show the current mode, region and stack in the header."""

    def view(self, lab_id: str) -> Widget:
        """One lab's view (a LabView; not named here, which would make an import cycle)."""
