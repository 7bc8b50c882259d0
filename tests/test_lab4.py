"""Pilot tests of the Lab 4 screen against a real model server the app starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PHOTOS, needs_models, needs_photos, wait_until
from textual.widgets import DataTable, Input

from dlworkshop import processes
from dlworkshop.classifier import service
from dlworkshop.tui.app import WorkshopApp
from dlworkshop.tui.screens.lab4 import Lab4View, PhotoTree
from dlworkshop.tui.widgets.checkpoints import PASSED
from dlworkshop.tui.widgets.verdict import TopK, Verdict

pytestmark = [pytest.mark.slow, needs_models, needs_photos]
SIZE = (120, 40)


def verdict_text(view: Lab4View) -> str:
    return view.query_one(Verdict).plain


async def ready_lab4(pilot, app: WorkshopApp) -> Lab4View:
    await pilot.press("5")
    view = app.view("lab4")
    await wait_until(pilot, lambda: view.endpoint is not None, timeout=180)
    return view


async def test_classify_a_photo_a_folder_and_bad_input(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        view = await ready_lab4(pilot, app)
        server = service.current()
        assert server is not None and server.endpoint == view.endpoint

        # One photo, picked in the directory tree.
        tree = view.query_one(PhotoTree)
        tree.focus()
        await wait_until(pilot, lambda: tree.cursor_node is not None
                         and len(tree.cursor_node.children) > 0)  # fmt: skip
        chelsea = next(n for n in tree.root.children if n.label.plain == "skimage_chelsea.png")
        tree.move_cursor(chelsea)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(view.results) == 1)
        assert "cat probability 99" in verdict_text(view)
        assert "▀█▀" in verdict_text(view)  # the big block letters
        assert "tiger cat" in str(view.query_one(TopK).render())
        assert not view.query_one(DataTable).display

        # A folder, typed: a batch with a results table.
        box = view.query_one("#l4-source", Input)
        box.value = str(PHOTOS / "coral")
        box.focus()
        await pilot.press("enter")
        images = [p for p in (PHOTOS / "coral").iterdir() if p.suffix in (".bmp", ".jpg")]
        await wait_until(pilot, lambda: len(view.results) == len(images), timeout=60)
        table = view.query_one(DataTable)
        assert table.display and table.row_count == len(images)
        verdicts = {str(table.get_row_at(i)[1]): str(table.get_row_at(i)[2])
                    for i in range(table.row_count)}  # fmt: skip
        assert verdicts["cat.bmp"] == "CAT" and verdicts["pets.jpg"] == "not a cat"

        # Bad input: a message, and the screen keeps working.
        box.value = str(PHOTOS / "CONTENTS.md")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Could not classify" in verdict_text(view))
        assert "not an image" in verdict_text(view)
        box.value = str(PHOTOS / "no-such-photo.png")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "does not exist" in verdict_text(view))
        box.value = str(PHOTOS / "skimage_chelsea.png")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "cat probability 99" in verdict_text(view))

        # The palette's "classify the sample cat": fetched (pinned, verified) in the worker.
        view.classify_sample()
        await wait_until(pilot, lambda: "cat_720p.jpg" in verdict_text(view), timeout=30)
        assert "cat probability 9" in verdict_text(view)

        # The checkpoint: the endpoint classifies the sample cat as a cat.
        app.run_checks("lab4")
        row = view.checkpoint_list.row("lab4.cat")
        await wait_until(pilot, lambda: row.status == PASSED, timeout=60)
        assert "says cat" in row.reason
        pid = server.pid
        # Nothing the learner started is running: q quits at once (the tree's loader,
        # which never ends, does not count as work in flight).
        await pilot.press("escape")
        app.query_one("#nav").focus()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    # The app started the model server, so quitting stops it.
    assert pid is not None and not processes.is_ours(pid, service.MARKER)
    assert service.current() is None


async def test_a_typed_endpoint_is_used_and_remembered(sandbox: dict, tmp_path: Path) -> None:
    info, _ = service.start(owner="test")
    try:
        app = WorkshopApp(sandbox=True)
        async with app.run_test(size=SIZE) as pilot:
            view = await ready_lab4(pilot, app)
            assert view.endpoint == info.endpoint  # reused, not started again
            box = view.query_one("#l4-endpoint", Input)
            box.value = "ftp://nowhere"
            box.focus()
            await pilot.press("enter")
            assert view.endpoint == info.endpoint  # refused: not http(s)
            box.value = info.endpoint + "/"
            await pilot.press("enter")
            assert view.endpoint == info.endpoint
            from dlworkshop import state as state_store

            def saved() -> bool:
                services = state_store.load().state.services
                return services.get("classify_endpoint") == {"endpoint": info.endpoint}

            await wait_until(pilot, saved)
        # Not started by the app, so it is still running.
        assert service.current() is not None
    finally:
        service.stop(only=info)
