"""Pilot tests of the Lab 2 screen: a real build and push through the engine, and no engine."""

from __future__ import annotations

import pytest
from conftest import ENGINE, MODELS, deploy_stack, needs_engine, wait_until
from textual.widgets import ProgressBar, Static

from dlworkshop.tui.app import WorkshopApp
from dlworkshop.tui.widgets.checkpoints import FAILED, PASSED

pytestmark = pytest.mark.slow  # real servers, engines or terminals

SIZE = (120, 40)


def text(view, selector: str) -> str:
    return str(view.query_one(selector, Static).render())


@needs_engine
async def test_build_then_push_and_all_three_checkpoints_pass(
    sandbox: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not isinstance(ENGINE, str)
    monkeypatch.setenv("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    deploy_stack("lab2-pilot")  # Lab 1's stack owns the ECR repository
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("3")
        view = app.view("lab2")
        view.query_one("#l2-build").focus()
        await pilot.press("enter")
        # One thing at a time: a push now would push the image being replaced.
        view.start_push()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("The build is still running" in m for m in messages), messages
        rows = view.checkpoint_list
        await wait_until(pilot, lambda: rows.row("lab2.runs").status in (PASSED, FAILED),
                         timeout=900)  # fmt: skip
        assert "Built" in text(view, "#l2-result") and "MB" in text(view, "#l2-result")
        assert rows.row("lab2.built").status == PASSED
        assert rows.row("lab2.runs").status == PASSED, rows.row("lab2.runs").reason
        assert "1.9.1" in rows.row("lab2.runs").reason
        assert "2/3" in str(app.query_one("#nav-lab2").render())

        view.query_one("#l2-push").focus()
        await pilot.press("enter")
        # (The check already ran, and failed, after the build: wait for the push itself.)
        try:
            await wait_until(pilot, lambda: rows.row("lab2.pushed").status == PASSED, 600)
        except AssertionError:
            raise AssertionError(f"not pushed: {text(view, '#l2-step')}") from None
        digest = text(view, "#l2-digest")
        assert "lab2-pilot-mxnet:latest" in digest and "sha256:" in digest
        # A row per layer, each bar full.
        bars = list(view.query("#l2-layers ProgressBar").results(ProgressBar))
        assert bars and all(bar.percentage == 1 for bar in bars)
        assert "3/3" in str(app.query_one("#nav-lab2").render())

        # The pilot's terminal cannot be handed to a shell: the screen says what to do.
        view.open_shell()
        await wait_until(pilot, lambda: "dlworkshop image shell" in text(view, "#l2-step"))


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
