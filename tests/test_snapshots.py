"""Snapshots of key screens: the navigator on Lab 2 (a lab screen whose content does not
depend on the sandbox's timing), and the help screen."""

from __future__ import annotations

from dlworkshop.tui.app import WorkshopApp

SIZE = (120, 40)


def test_navigator_on_lab2(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3"], terminal_size=SIZE)


def test_help_screen(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3", "question_mark"], terminal_size=SIZE)
