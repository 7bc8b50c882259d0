"""The lab navigator: Overview, Lab 1 … Lab 4, Cleanup, Appendix."""

from __future__ import annotations

from textual.widgets import Label, ListItem, ListView

from dlworkshop.labs import LABS, Lab


class LabItem(ListItem):
    """One lab in the navigator, with its checkpoint count."""

    def __init__(self, lab: Lab, number: int) -> None:
        super().__init__(id=f"nav-{lab.id}")
        self.lab = lab
        self.number = number

    def compose(self):
        yield Label(f"{self.number} {self.lab.label}", classes="nav-label")
        # On a narrow terminal the name alone ("Lab 1"), so the lab gets the width.
        yield Label(f"{self.number} {self.lab.name}", classes="nav-short")
        yield Label("", classes="nav-progress")

    def set_progress(self, passed: int, total: int) -> None:
        """Show "passed/total" beside the lab's name."""
        label = self.query_one(".nav-progress", Label)
        label.update(f"{passed}/{total}" if total else "")
        self.set_class(bool(total) and passed == total, "-complete")


class LabNav(ListView):
    """A ListView of the labs; highlighting one shows it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(*(LabItem(lab, i + 1) for i, lab in enumerate(LABS)), **kwargs)

    def item(self, lab_id: str) -> LabItem:
        return self.query_one(f"#nav-{lab_id}", LabItem)
