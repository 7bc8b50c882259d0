"""The help screen: every key binding, and how to use the mouse."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

NAMES = {
    "question_mark": "?",
    "right": "→",
    "left": "←",
    "ctrl+p": "ctrl+p",
    "escape": "esc",
}


def key_names(key: str) -> str:
    """ "n,right" → "n / →"."""
    return " / ".join(NAMES.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    """Lists every binding of the app, plus the palette and the mouse."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help"),
    ]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__(id="help")
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("dlworkshop · keys", classes="panel-title")
            table: DataTable = DataTable(show_cursor=False, zebra_stripes=True, id="help-keys")
            table.add_columns("Key", "Does")
            # Keys bound to the same action share a row: "n / →  Next lab".
            rows: dict[str, list[str]] = {}
            for binding in self.bindings:
                if binding.action.startswith("footer("):
                    continue  # the footer's copy of a key listed under its own action
                rows.setdefault(binding.action, [binding.tooltip or binding.description]).append(
                    binding.key
                )
            for description, *keys in rows.values():
                table.add_row(key_names(",".join(keys)), description)
            table.add_row("↑ / ↓, enter", "Move in the lab list")
            table.add_row("tab / shift+tab", "Move between parts of the screen")
            table.add_row("mouse", "Click a lab or a button; scroll with the wheel")
            yield table
            yield Static("Press esc or ? to close.", classes="dim")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
