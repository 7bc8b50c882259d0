"""Pilot tests of the Lab 2 screen: a real build through the engine, and no engine at all."""

from __future__ import annotations

import pytest
from conftest import MODELS, wait_until
from test_container import ENGINE, needs_engine
from textual.widgets import Static

from dlworkshop.tui.app import WorkshopApp
from dlworkshop.tui.widgets.checkpoints import FAILED, PASSED

SIZE = (120, 40)


def text(view, selector: str) -> str:
    return str(view.query_one(selector, Static).render())


@needs_engine
async def test_build_streams_steps_and_both_checkpoints_pass(
    sandbox: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not isinstance(ENGINE, str)
    monkeypatch.setenv("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        view = app.view("lab2")
        view.query_one("#l2-build").focus()
        await pilot.press("enter")
        rows = view.checkpoint_list
        await wait_until(pilot, lambda: rows.row("lab2.runs").status in (PASSED, FAILED),
                         timeout=900)  # fmt: skip
        assert "Built" in text(view, "#l2-result") and "MB" in text(view, "#l2-result")
        assert rows.row("lab2.built").status == PASSED
        assert rows.row("lab2.runs").status == PASSED, rows.row("lab2.runs").reason
        assert "1.9.1" in rows.row("lab2.runs").reason
        assert "2/3" in str(app.query_one("#nav-lab2 .nav-progress").render())


async def test_without_an_engine_the_screen_says_so(
    sandbox: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        view = app.view("lab2")
        view.start_build()
        await wait_until(pilot, lambda: "No Docker engine answered" in text(view, "#l2-step"))
        rows = view.checkpoint_list
        await wait_until(pilot, lambda: rows.row("lab2.built").status == FAILED)
        assert "No Docker engine" in rows.row("lab2.built").reason
        app.query_one("#nav").focus()
        await pilot.press("n")
        assert app.query_one("ContentSwitcher").current == "lab-lab3"
