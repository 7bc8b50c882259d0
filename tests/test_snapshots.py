"""Snapshots of key screens: the navigator on Lab 2 (a lab screen whose content does not
depend on the sandbox's timing), and the help screen."""

from __future__ import annotations

from dlworkshop.tui.app import WorkshopApp

SIZE = (120, 40)


def test_navigator_on_lab2(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3"], terminal_size=SIZE)


def test_help_screen(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3", "question_mark"], terminal_size=SIZE)


def _lab3_with_a_running_task(pilot) -> None:
    """Lab 3 as it looks once deployed and tunnelled: fixed events through the screen's
    own handler, so that the picture does not depend on task IDs, ports or timing."""
    from dlworkshop.aws.tasks import TaskState
    from dlworkshop.remote.forwards import TunnelOpen
    from dlworkshop.remote.instances import Reach
    from dlworkshop.tui.screens.lab3 import WorkEvent

    view = pilot.app.view("lab3")
    view.query_one("#l3-tasks").display = True
    view.query_one("#l3-matrix").display = True
    master, secondary = "i-0123456789abcdef0", "i-0fedcba9876543210"
    for event in (
        TaskState("98337f03-1111-2222-3333-444455556666", master, "127.0.10.1", "RUNNING",
                  "RUNNING", "HEALTHY", [], "", "dlworkshop-serve"),
        TaskState("c5974c53-1111-2222-3333-444455556666", secondary, "127.0.10.2", "RUNNING",
                  "RUNNING", "HEALTHY", [], "", "dlworkshop-serve"),
        TunnelOpen(master, "127.0.10.1:22", "SHA256:AbCdEf0123456789", True,
                   {"8080": "http://127.0.0.1:41001",
                    "8888": "http://127.0.0.1:41002/lab?token=0123456789abcdef"}),
        Reach(master, secondary, "127.0.10.2", 22, True, 0.4),
        Reach(master, secondary, "127.0.10.2", 8080, True, 0.6),
    ):  # fmt: skip
        view.on_work_event(WorkEvent(event))


def test_lab3_with_a_running_task(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), terminal_size=SIZE,
                        run_before=_press_then(_lab3_with_a_running_task))  # fmt: skip


def test_lab3_with_a_running_task_at_80x24(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), terminal_size=(80, 24),
                        run_before=_press_then(_lab3_with_a_running_task))  # fmt: skip


def _press_then(fill):
    async def run_before(pilot) -> None:
        await pilot.press("4")
        await pilot.pause()
        fill(pilot)
        await pilot.pause()

    return run_before
