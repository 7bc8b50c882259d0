"""The photo preview: terminal graphics where the terminal has them, text otherwise."""

from __future__ import annotations

import contextlib

from PIL import Image as PILImage
from textual.containers import Vertical
from textual.widgets import Static

PREVIEW = 384  # pixels; the terminal shows far fewer


def image_widget_class():
    """textual-image's best widget for this terminal (Sixel, Kitty, half-cells or Unicode).

    It probes the terminal when first imported, which only works before the app starts:
    `dlworkshop-tui` imports it early through `prepare_terminal()`.
    """
    from textual_image.widget import Image

    return Image


def prepare_terminal() -> None:
    """Probe the terminal's graphics support while we still own it."""
    # A terminal that does not answer still gets the text fallback.
    with contextlib.suppress(Exception):
        image_widget_class()


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
