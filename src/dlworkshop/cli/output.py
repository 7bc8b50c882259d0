"""Print events as JSON lines or as Rich text."""

from __future__ import annotations

import json
import sys
from typing import Any

from dlworkshop.events import Event, Failed, Log, Progress

_LEVEL_STYLE = {"info": "", "warning": "yellow", "error": "bold red"}


class Printer:
    """Renders a stream of events; remembers whether any of them was a failure."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.failed = False
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    def emit(self, event: Event) -> None:
        """Print one event."""
        if isinstance(event, Failed):
            self.failed = True
        if self.as_json:
            sys.stdout.write(json.dumps(event.to_dict(), default=str) + "\n")
            sys.stdout.flush()
            return
        render = getattr(event, "render_text", None)
        renderable = getattr(event, "renderable", None)
        if isinstance(event, Log):
            style = _LEVEL_STYLE.get(event.level, "")
            self.console.print(event.message, style=style or None, markup=False)
        elif isinstance(event, Failed):
            self.console.print(f"Error: {event.message}", style="bold red", markup=False)
            if event.hint:
                self.console.print(event.hint, style="yellow", markup=False)
        elif isinstance(event, Progress):
            total = f"/{event.total:g}" if event.total else ""
            self.console.print(f"{event.label} {event.done:g}{total}", markup=False)
        elif callable(renderable):  # more than a line of text: a table, highlighted JSON
            self.console.print(renderable())
        elif callable(render):
            self.console.print(render())
        else:
            fields = ", ".join(f"{k}={v}" for k, v in event.to_dict().items() if k != "type")
            self.console.print(f"{event.type}: {fields}", markup=False)
