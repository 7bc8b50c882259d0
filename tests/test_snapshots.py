"""Snapshots of key screens: the navigator on Lab 1, and the help screen."""

from __future__ import annotations

from dlworkshop.tui.app import WorkshopApp

SIZE = (120, 40)


def test_navigator_on_lab1(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["2"], terminal_size=SIZE)


def test_help_screen(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["2", "question_mark"], terminal_size=SIZE)
