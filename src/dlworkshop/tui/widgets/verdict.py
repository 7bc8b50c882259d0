"""The big CAT / NOT A CAT verdict and the top-5 bars."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widgets import Static

# A 5-pixel-high block font for the verdict's letters; two pixel rows per text row.
GLYPHS = {
    "C": [".###", "#...", "#...", "#...", ".###"],
    "A": [".##.", "#..#", "####", "#..#", "#..#"],
    "T": ["###", ".#.", ".#.", ".#.", ".#."],
    "N": ["#..#", "##.#", "#.##", "#..#", "#..#"],
    "O": [".##.", "#..#", "#..#", "#..#", ".##."],
    " ": [".", ".", ".", ".", "."],
}
HALVES = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def big(word: str) -> list[str]:
    """`word` in the block font, as three lines of half-block characters."""
    rows = [".".join(GLYPHS[ch][r] for ch in word) for r in range(5)] + [""]
    rows[5] = "." * len(rows[0])
    return [
        "".join(HALVES[(top[i] == "#", bottom[i] == "#")] for i in range(len(top)))
        for top, bottom in zip(rows[0::2], rows[1::2], strict=True)
    ]


class Verdict(Static):
    """A big box: CAT in green, NOT A CAT in red, or what is happening."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._verdict: tuple[bool, float, str] | None = None
        self.plain = ""  # what the box says, as plain text

    def update(self, content="", *, layout: bool = True) -> None:
        if isinstance(content, Group):
            self.plain = "\n".join(t.plain for t in content.renderables)  # type: ignore[union-attr]
        else:
            self.plain = getattr(content, "plain", str(content))
        super().update(content, layout=layout)

    def show_waiting(self, message: str) -> None:
        self._verdict = None
        self.set_classes("verdict -waiting")
        self.update(Text(message, justify="center"))

    def show(self, is_cat: bool, cat_probability: float, source: str) -> None:
        self._verdict = (is_cat, cat_probability, source)
        self.set_classes(f"verdict {'-cat' if is_cat else '-not-cat'}")
        self.update(self._render_verdict())

    def show_error(self, source: str, error: str) -> None:
        self._verdict = None
        self.set_classes("verdict -error")
        self.update(Text.assemble(("Could not classify\n", "bold"), (f"{error}\n", ""),
                                  (source, "dim"), justify="center"))  # fmt: skip

    def on_resize(self) -> None:
        if self._verdict:
            self.update(self._render_verdict())

    def _render_verdict(self) -> Group:
        is_cat, probability, source = self._verdict  # type: ignore[misc]
        word = "CAT" if is_cat else "NOT A CAT"
        lines = big(word)
        if len(lines[0]) <= self.content_size.width:
            title = Text("\n".join(lines), style="bold", justify="center")
        else:  # too narrow for the block letters
            title = Text(word, style="bold", justify="center")
        details = Text(f"cat probability {probability:.1%}", justify="center")
        name = source if "://" in source else source.rsplit("/", 1)[-1]
        return Group(title, details, Text(name, style="dim", justify="center"))


class TopK(Static):
    """The five most likely labels as bars that fit the widget's width."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.top_k: list[dict] = []

    def show(self, top_k: list[dict]) -> None:
        self.top_k = list(top_k[:5])
        self.refresh(layout=True)

    def clear(self) -> None:
        self.show([])

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.top_k)

    def render(self) -> Text:
        width = self.content_size.width or 40
        label_width = max(8, min(18, width // 3))
        bar_width = max(4, width - label_width - 8)
        out = Text()
        for i, item in enumerate(self.top_k):
            p = float(item["probability"])
            cells = round(p * bar_width)
            label = item["label"].split(",")[0][:label_width].ljust(label_width)
            out.append(f"{label} ")
            out.append("█" * cells, style="green")
            out.append("░" * (bar_width - cells), style="dim")
            out.append(f" {p:6.1%}" + ("\n" if i < len(self.top_k) - 1 else ""))
        return out
