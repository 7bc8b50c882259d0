"""The photo preview: terminal graphics where the terminal has them, text otherwise."""

from __future__ import annotations

import contextlib
import sys

from PIL import Image as PILImage
from textual.containers import Vertical
from textual.widgets import Static

PREVIEW = 384  # pixels; the terminal shows far fewer


def image_widget_class():
    """textual-image's widget for what this terminal draws (Sixel, Kitty, half-cells or text).

    textual-image asks the terminal when first imported, which cannot work once Textual
    reads the keys (and waits 0.1 s for each question a terminal leaves unanswered):
    `dlworkshop-tui` asks once before the app starts (`terminal.probe`), and this hands
    textual-image those answers, so it asks nothing itself.
    """
    from dlworkshop.tui import terminal

    found = terminal.graphics()
    if "textual_image.renderable" not in sys.modules:
        import textual_image._terminal as asked

        @contextlib.contextmanager
        def ask_nothing(*_args, **_kwargs):
            raise asked.TerminalError("asked before the app started")
            yield  # a generator, as the context manager it replaces

        asked.capture_terminal_response = ask_nothing  # its probes then answer "no"
        asked.get_cell_size._result = asked.CellSize(*found.cell)
    import textual_image.widget as widgets

    return {
        "sixel": widgets.SixelImage,
        "kitty": widgets.TGPImage,
        "halfcell": widgets.HalfcellImage,
    }.get(found.kind, widgets.UnicodeImage)


class PhotoPreview(Vertical):
    """Shows one photo, scaled down, with a caption."""

    def compose(self):
        yield Static("No photo yet.", classes="photo-caption dim")

    def show(self, image: PILImage.Image | None, caption: str) -> None:
        for old in self.query(".photo-image"):
            old.remove()
        if image is not None:
            try:
                widget = image_widget_class()(image, classes="photo-image")
            except Exception as exc:  # no graphics at all: say so instead of a picture
                widget = Static(f"(cannot draw photos here: {exc})", classes="photo-image")
            self.mount(widget, before=0)
        self.query_one(".photo-caption", Static).update(caption)


def thumbnail(image: PILImage.Image) -> PILImage.Image:
    """A small copy for the preview."""
    small = image.copy()
    small.thumbnail((PREVIEW, PREVIEW))
    return small
