"""Pilot tests of the navigator: keys, palette, help, checkpoints, state and quitting."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from conftest import wait_until
from textual.app import App
from textual.widgets import ContentSwitcher, DataTable, OptionList

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.checkpoints import Checkpoint, CheckResult
from dlworkshop.labs import LABS
from dlworkshop.paths import state_file
from dlworkshop.tui.app import WorkshopApp
from dlworkshop.tui.screens.confirm import Confirm
from dlworkshop.tui.screens.help import HelpScreen
from dlworkshop.tui.screens.lab import LabView
from dlworkshop.tui.screens.overview import ConnectionPanel
from dlworkshop.tui.widgets.checkpoints import FAILED, PASSED, UNBUILT

pytestmark = pytest.mark.slow  # real servers, engines or terminals

SIZE = (120, 40)


def shown(app: WorkshopApp) -> str:
    return app.query_one(ContentSwitcher).current or ""


async def connected(pilot, app: WorkshopApp) -> None:
    await wait_until(pilot, lambda: app.target is not None or app.connect_error is not None)
    assert app.connect_error is None, app.connect_error


async def test_keys_move_between_labs(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        assert shown(app) == "lab-overview"
        await pilot.press("n")
        assert shown(app) == "lab-lab1"
        await pilot.press("right")
        assert shown(app) == "lab-lab2"
        await pilot.press("p", "left")
        assert shown(app) == "lab-overview"
        await pilot.press("left")  # stays on the first lab
        assert shown(app) == "lab-overview"
        await pilot.press("5")
        assert shown(app) == "lab-lab4"
        await pilot.press("7", "n")  # stays on the last lab
        assert shown(app) == "lab-appendix"
        await pilot.press("6")
        assert shown(app) == "lab-cleanup"
        # The navigator follows, and up/down in it switch labs too.
        assert app.query_one("#nav").index == 5
        await pilot.press("up")
        assert shown(app) == "lab-lab4"


async def test_mouse_click_on_the_navigator(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#nav-lab3")
        await pilot.pause()
        assert shown(app) == "lab-lab3"


async def test_labs_are_listed_and_every_lab_is_built(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        text = " ".join(str(item.render()) for item in app.query("LabItem"))
        for name in (
            "Overview",
            "Lab 1 · Set up AWS",
            "Lab 2",
            "Lab 3",
            "Lab 4",
            "Cleanup",
            "Appendix",
        ):
            assert name in text
        await pilot.press("7")
        assert shown(app) == "lab-appendix"
        # Every lab is built now: none says otherwise, and every checkpoint has its check.
        for built in ("overview", "lab1", "lab2", "lab3", "lab4", "cleanup", "appendix"):
            assert not app.view(built).query(".not-built")
            rows = app.view(built).checkpoint_list
            assert all(rows.row(cp.id).status != UNBUILT for cp in checkpoints.for_lab(built))


async def test_help_lists_every_binding(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        keys = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        for key in ("n / →", "p / ←", "1", "7", "r", "?", "ctrl+p", "q"):
            assert key in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_has_one_command_per_lab_action(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for lab in ("Overview", "Lab 1", "Lab 2", "Lab 3", "Lab 4", "Cleanup", "Appendix"):
            assert any(t.startswith(f"Go to {lab}") for t in titles)
        assert "Overview: run checkpoints" in titles
        assert "Overview: check the AWS connection" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Lab 3")
        options = app.screen.query_one(OptionList)

        def first_is_lab3() -> bool:
            return options.option_count > 0 and str(
                options.get_option_at_index(0).prompt
            ).startswith("Go to Lab 3 · Deploy with ECS")

        await wait_until(pilot, first_is_lab3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: shown(app) == "lab-lab3")


async def test_checkpoints_pass_against_the_sandbox_and_survive_restart(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        panel = str(app.query_one(ConnectionPanel).render())
        assert sandbox["endpoint"] in panel
        await pilot.press("r")
        rows = app.view("overview").checkpoint_list
        await wait_until(pilot, lambda: rows.row("overview.region").status == PASSED)
        assert rows.row("overview.credentials").status == PASSED
        assert "123456789012" in rows.row("overview.credentials").reason
        assert "2/2" in str(app.query_one("#nav-overview").render())
    saved = state_store.load().state.results("sandbox")
    assert saved["overview.credentials"]["status"] == "passed"

    again = WorkshopApp(sandbox=True)
    async with again.run_test(size=SIZE) as pilot:
        await connected(pilot, again)
        rows = again.view("overview").checkpoint_list
        assert rows.row("overview.credentials").status == PASSED
        assert rows.row("overview.region").status == PASSED


async def test_a_failing_checkpoint_shows_its_reason(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True, region="mars-east-1")
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        assert "mars-east-1" in app.sub_title
        app.run_checks("overview")
        rows = app.view("overview").checkpoint_list
        await wait_until(pilot, lambda: rows.row("overview.region").status == FAILED)
        reason = rows.row("overview.region").reason
        assert "mars-east-1 is not a region this account can use" in reason
        assert "us-east-1" in reason
        assert "failed" in str(rows.row("overview.region").render())
        # The app keeps working.
        await pilot.press("n")
        assert shown(app) == "lab-lab1"


@pytest.fixture
def registered():
    """Register extra checkpoints on Lab 2 for a test, then remove them."""
    ids: list[str] = []

    def add(cp: Checkpoint) -> Checkpoint:
        ids.append(cp.id)
        return checkpoints.register(cp)

    yield add
    for cp_id in ids:
        checkpoints.unregister(cp_id)


async def test_a_check_that_raises_fails_with_the_message(sandbox: dict, registered) -> None:
    def broken(ctx) -> CheckResult:
        raise RuntimeError("the registry is not reachable")

    registered(Checkpoint("lab2.test-broken", "lab2", "A broken check", broken))
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await pilot.press("3", "r")
        row = app.view("lab2").checkpoint_list.row("lab2.test-broken")
        await wait_until(pilot, lambda: row.status == FAILED)
        assert row.reason == "RuntimeError: the registry is not reachable"


async def test_quit_asks_first_while_work_is_in_flight(sandbox: dict, registered) -> None:
    release = threading.Event()

    def slow(ctx) -> CheckResult:
        release.wait(30)
        return CheckResult.ok()

    registered(Checkpoint("lab2.test-slow", "lab2", "A slow check", slow))
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await pilot.press("3", "r")
        await wait_until(pilot, app.busy)
        await pilot.press("q")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # stay
        assert not isinstance(app.screen, Confirm)
        assert app.is_running
        release.set()
        row = app.view("lab2").checkpoint_list.row("lab2.test-slow")
        await wait_until(pilot, lambda: row.status == PASSED)
        await pilot.press("q")  # nothing in flight: quits at once
        await pilot.pause()
    assert app.return_code == 0


async def test_a_directory_as_state_gives_one_message_and_a_fresh_start(
    home: Path, sandbox
) -> None:
    state_file().unlink()
    state_file().mkdir()
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert sum("is a directory" in m for m in messages) == 1
        await pilot.press("2")
        await pilot.pause()
        assert shown(app) == "lab-lab1"
    assert [p.is_dir() for p in home.glob("state.json.corrupt-*")] == [True]


async def test_corrupt_state_gives_one_message_and_a_fresh_start(home: Path, sandbox) -> None:
    state_file().write_text("not json at all")
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert sum("could not be read" in m for m in messages) == 1
        assert shown(app) == "lab-overview"
    kept = list(home.glob("state.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == "not json at all"


async def test_last_lab_is_restored(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_until(pilot, lambda: state_store.load().state.current_lab == "lab3")
    again = WorkshopApp(sandbox=True)
    async with again.run_test(size=SIZE):
        assert shown(again) == "lab-lab3"


async def test_the_app_starts_its_own_sandbox_and_stops_it_on_exit() -> None:
    from dlworkshop.sandbox import lifecycle

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        info = lifecycle.current()
        assert info is not None and info.owner == "tui"
        assert app.target.endpoint == info.endpoint
        pid = info.pid
        await pilot.press("q")
        await pilot.pause()
    assert lifecycle.current() is None
    assert not Path(f"/proc/{pid}").exists() or "sandbox" not in Path(
        f"/proc/{pid}/cmdline"
    ).read_text(errors="replace")


async def test_quick_jumps_settle_on_the_last_lab(sandbox: dict) -> None:
    # Regression: stale highlight messages used to bounce between two labs forever.
    state_store.update(lambda s: setattr(s, "current_lab", "lab2"))
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5", "3", "6", "2", "6")
        await wait_until(pilot, lambda: shown(app) == "lab-cleanup"
                         and app.query_one("#nav").index == 5)  # fmt: skip
        switches: list[str] = []
        original = app.show_lab

        def counted(lab_id: str) -> None:
            switches.append(lab_id)
            original(lab_id)

        app.show_lab = counted  # type: ignore[method-assign]
        await pilot.pause(0.5)
        # Settled: nothing switches labs any more (a bounce would switch back and forth).
        assert switches in ([], ["cleanup"]), switches
        assert shown(app) == "lab-cleanup"


async def test_leaving_a_lab_never_leaves_the_keys_in_a_hidden_field(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await pilot.press("5")  # Lab 4
        assert shown(app) == "lab-lab4"
        endpoint = app.view("lab4").query_one("#l4-endpoint")
        before = endpoint.value
        app.view("lab4").query_one("#l4-classify").focus()  # a button in Lab 4
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert shown(app) == "lab-cleanup"
        focused = app.focused
        # On something visible in the lab now shown (or the navigator), never in Lab 4.
        assert focused is not None and app.view("lab4") not in focused.ancestors
        assert focused is app.query_one("#nav") or app.view("cleanup") in focused.ancestors
        await pilot.press("p", "p")
        await pilot.pause()
        assert shown(app) == "lab-lab3"
        await pilot.press("7")
        await pilot.pause()
        assert shown(app) == "lab-appendix"
        # No key went into Lab 4's hidden field (the app may fill in its server's URL).
        assert before in endpoint.value and not any(k in endpoint.value for k in ("np", "p7"))


async def test_a_long_checkpoint_detail_is_shown_whole(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        row = app.view("overview").checkpoint_list.row("overview.credentials")
        await pilot.press("r")
        await wait_until(pilot, lambda: row.status == PASSED)
        await pilot.pause()
        lines = [strip.text for strip in row.render_lines(row.region.reset_offset)]
        shown_text = "".join(line.strip() for line in lines)
        assert "arn:aws:sts::123456789012:user/moto" in shown_text, lines


async def test_every_built_lab_has_keys_for_its_actions(sandbox: dict) -> None:
    app = WorkshopApp(sandbox=True)
    calls: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        for lab, key, method in (("lab1", "d", "start_deploy"), ("lab1", "x", "start_delete"),
                                 ("lab2", "b", "start_build"), ("lab2", "h", "open_shell"),
                                 ("lab2", "u", "start_push"), ("lab4", "c", "classify_typed"),
                                 ("lab4", "s", "classify_sample"), ("lab3", "s", "stop_tasks"),
                                 ("lab3", "h", "open_shell")):  # fmt: skip
            setattr(app.view(lab), method, lambda lab=lab, key=key: calls.append(f"{lab}:{key}"))
        for number, lab, keys in (("2", "lab1", "dx"), ("3", "lab2", "bhu"),
                                  ("4", "lab3", "sh"), ("5", "lab4", "cs")):  # fmt: skip
            await pilot.press(number)
            app.query_one("#nav").focus()
            await pilot.pause()
            footer = {key for key, b in app.active_bindings.items() if b.binding.show and b.enabled}
            assert set(keys) <= footer, (lab, footer)
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
                assert calls[-1] == f"{lab}:{key}", (lab, key, calls)


async def test_a_labs_guide_opens_expanded_the_first_time_only(sandbox: dict) -> None:
    from textual.widgets import Collapsible

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        guide = app.view("lab1").query_one(".guide-box", Collapsible)
        assert not guide.collapsed
        guide.collapsed = True  # the learner closes it
        await pilot.press("1", "2")
        await pilot.pause()
        assert guide.collapsed  # a second visit leaves it as the learner left it
        await wait_until(pilot, lambda: "lab1" in state_store.load().state.seen_labs)
    again = WorkshopApp(sandbox=True)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert again.view("lab1").query_one(".guide-box", Collapsible).collapsed
        await pilot.press("5")
        await pilot.pause()
        assert not again.view("lab4").query_one(".guide-box", Collapsible).collapsed


async def test_at_80_columns_the_footer_keeps_the_labs_keys_and_n_p_r_help_still_work(
    sandbox: dict,
) -> None:
    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot, app)
        await pilot.press("4")
        await pilot.pause()
        footer = {key for key, b in app.active_bindings.items() if b.binding.show and b.enabled}
        assert set("dhjstml") <= footer and not {"n", "p", "r"} & footer
        await pilot.press("n")
        assert shown(app) == "lab-lab4"
        await pilot.press("p")
        assert shown(app) == "lab-lab3"
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await pilot.press("1", "r")
        row = app.view("overview").checkpoint_list.row("overview.credentials")
        await wait_until(pilot, lambda: row.status == PASSED)


@pytest.fixture
def held_labs(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """The labs are composed (after the first frame) only once the test sets this event."""
    release = asyncio.Event()
    compose = WorkshopApp._compose_labs

    async def held(self: WorkshopApp) -> None:
        await release.wait()
        await compose(self)

    monkeypatch.setattr(WorkshopApp, "_compose_labs", held)
    return release


async def test_keys_and_clicks_on_the_first_frame_wait_for_the_labs(
    sandbox: dict, held_labs: asyncio.Event
) -> None:
    app = WorkshopApp(sandbox=True)
    # Textual's own run_test: the conftest's waits for the labs, which are held here.
    async with App.run_test(app, size=SIZE) as pilot:
        assert not app.query(LabView)  # the first frame lists the labs; none is composed
        await pilot.press("3")  # Lab 2, not composed yet
        await pilot.click("#nav-lab3")
        assert shown(app) == ""
        held_labs.set()
        await wait_until(pilot, lambda: shown(app) == "lab-lab3")
        assert len(app.query(LabView)) == len(LABS)
        assert app.view("lab2").lab.id == "lab2"  # composed, then shown on the way
        await connected(pilot, app)


async def test_q_quits_while_the_labs_are_still_composing(
    sandbox: dict, held_labs: asyncio.Event
) -> None:
    app = WorkshopApp(sandbox=True)
    async with App.run_test(app, size=SIZE) as pilot:
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, timeout=10)
    assert app.return_code == 0


def test_every_lab_key_names_a_method_of_its_view() -> None:
    import importlib

    from dlworkshop.tui.keys import LAB_KEYS, VIEWS

    for lab_id, keys in LAB_KEYS.items():
        module, _, name = VIEWS[lab_id].partition(":")
        view = getattr(importlib.import_module(f"dlworkshop.tui.screens.{module}"), name)
        for key, method, *_ in keys:
            assert callable(getattr(view, method, None)), (lab_id, key, method)
