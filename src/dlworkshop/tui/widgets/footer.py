"""The key footer, rebuilt once per refresh however often the bindings change."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer, whose rebuilds (every key a widget) are coalesced.

    Textual's Footer rebuilds all its keys after every change of the bindings; at start-up
    focus, the first lab and the terminal's size each change them, and the rebuilds were
    a good part of the time to the first frame. One rebuild after the changes shows the same.
    """

    _rebuild_queued = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_queued:
            self._rebuild_queued = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_queued = False
        await self.recompose()
