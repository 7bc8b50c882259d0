"""The lab navigator: Overview, Lab 1 … Lab 4, Cleanup, Appendix."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import ListItem, ListView

from dlworkshop.labs import LABS, Lab


class LabItem(ListItem):
    """One lab in the navigator, with its checkpoint count.

    It draws its one line itself rather than holding a label per part: the navigator is
    on the first frame, and every widget there delays it.
    """

    COMPONENT_CLASSES = {"lab-item--progress"}
    progress: reactive[str] = reactive("")  # "passed/total"

    def __init__(self, lab: Lab, number: int) -> None:
        super().__init__(id=f"nav-{lab.id}")
        self.lab = lab
        self.number = number

    def render(self) -> Text:
        # On a narrow terminal the name alone ("Lab 1"), so the lab gets the width.
        name = self.lab.name if self.app.has_class("-narrow") else self.lab.label
        line = Text(f"{self.number} {name}", no_wrap=True, overflow="ellipsis")
        room = self.content_size.width - (len(self.progress) + 1 if self.progress else 0)
        line.truncate(max(room, 1), overflow="ellipsis", pad=True)
        if self.progress:
            line.append(" " + self.progress, self.get_component_rich_style("lab-item--progress"))
        return line

    def set_progress(self, passed: int, total: int) -> None:
        """Show "passed/total" beside the lab's name."""
        self.progress = f"{passed}/{total}" if total else ""
        self.set_class(bool(total) and passed == total, "-complete")


class LabNav(ListView):
    """A ListView of the labs; highlighting one shows it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(*(LabItem(lab, i + 1) for i, lab in enumerate(LABS)), **kwargs)

    def item(self, lab_id: str) -> LabItem:
        return self.query_one(f"#nav-{lab_id}", LabItem)
