"""The workshop's labs, their guide text and their checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Lab:
    """One step of the workshop, as the navigator lists it."""

    id: str
    name: str
    title: str
    guide: str

    @property
    def label(self) -> str:
        """The navigator's text, e.g. "Lab 1 · Set up AWS"."""
        return f"{self.name} · {self.title}"

    def guide_text(self) -> str:
        """The lab's guide, shipped as Markdown package data."""
        return resources.files("dlworkshop.guides").joinpath(self.guide).read_text("utf-8")


LABS: tuple[Lab, ...] = (
    Lab("overview", "Overview", "Cats, MXNet and ECS", "overview.md"),
    Lab("lab1", "Lab 1", "Set up AWS", "lab1.md"),
    Lab("lab2", "Lab 2", "Build the MXNet container", "lab2.md"),
    Lab("lab3", "Lab 3", "Deploy with ECS", "lab3.md"),
    Lab("lab4", "Lab 4", "Image classification", "lab4.md"),
    Lab("cleanup", "Cleanup", "Leave nothing running", "cleanup.md"),
    Lab("appendix", "Appendix", "Extra credit", "appendix.md"),
)
BY_ID = {lab.id: lab for lab in LABS}


def lab_index(lab_id: str) -> int:
    """Position of a lab in the navigator."""
    return [lab.id for lab in LABS].index(lab_id)
