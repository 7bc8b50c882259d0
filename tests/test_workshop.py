"""`dlworkshop workshop` on the sandbox: every checkpoint twice from scratch; killed at any
point and cleaned up, nothing left; after a stack delete the app shows passes as gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from conftest import needs_engine, needs_models, wait_until
from helpers import json_lines, run_cli

from dlworkshop import checkpoints, labs
from dlworkshop import state as state_store

pytestmark = [pytest.mark.slow, needs_engine, needs_models]
EVERY = [cp.id for lab in labs.LABS for cp in checkpoints.for_lab(lab.id)
         if cp.available and lab.id != "appendix"]  # fmt: skip


def workshop(*args: str) -> list[dict]:
    out = run_cli("--sandbox", "--json", "workshop", *args, timeout=900)
    events = json_lines(out.stdout)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    return events


def sandbox_running() -> bool:
    from dlworkshop.sandbox import lifecycle

    return lifecycle.current() is not None


def test_the_whole_workshop_passes_twice_from_scratch() -> None:
    for _ in range(2):
        summary = workshop()[-1]
        assert summary["type"] == "summary", summary
        assert [c["id"] for c in summary["checkpoints"]] == EVERY
        assert all(c["passed"] for c in summary["checkpoints"]), summary["checkpoints"]
        assert set(summary["checkpoints"][0]) == {"lab", "id", "title", "passed", "detail",
                                                  "seconds"}  # fmt: skip
        assert summary["leftover"] == [] and summary["cost"]["source"]
        assert summary["seconds"] > 0
        assert not sandbox_running()  # the workshop started it, and stopped it at the end


def _after(event_type: str, **fields: object) -> Callable[[dict], bool]:
    def matches(event: dict) -> bool:
        return event["type"] == event_type and all(event.get(k) == v for k, v in fields.items())

    return matches


KILL_POINTS = {
    "after the stack": _after("checkpoint_result", id="lab1.instances"),
    "during the push": _after("push_layer"),
    "with a task running": _after("checkpoint_result", id="lab3.running"),
    "during cleanup": _after("cleanup_step", kind="stack"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_anywhere_then_cleanup_leaves_nothing(point: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlworkshop", "--sandbox", "--json", "workshop"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ),
        stdin=subprocess.DEVNULL)  # fmt: skip
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            seen.append(event["type"])
            if KILL_POINTS[point](event):
                proc.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail(f"the workshop ended before {point}: {seen[-20:]}")
    finally:
        proc.kill()
        proc.wait(30)
    out = run_cli("--sandbox", "--json", "cleanup", "--yes", timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = json_lines(out.stdout)[-1]
    assert summary["type"] == "cleanup_summary" and summary["leftover"] == [], summary
    assert not sandbox_running()


async def test_after_a_stack_delete_a_restarted_app_shows_passes_as_gone() -> None:
    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.checkpoints import CheckpointRow

    summary = workshop("--keep")[-1]
    assert all(c["passed"] for c in summary["checkpoints"]) and summary["leftover"]
    out = run_cli("--sandbox", "--json", "stack", "delete", "--yes", timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    try:
        app = WorkshopApp(sandbox=True)  # a restart: it reuses the sandbox left running
        async with app.run_test(size=(120, 40)) as pilot:
            rows = {cp: app.query_one(f"#cp-{cp.replace('.', '-')}", CheckpointRow)
                    for cp in ("lab2.pushed", "lab4.cat", "lab1.stack")}  # fmt: skip
            await wait_until(pilot, lambda: all(r.status == "gone" for r in rows.values()),
                             timeout=60)  # fmt: skip
            assert "no stack" in rows["lab2.pushed"].reason.lower()
            assert rows["lab2.pushed"].render().plain.count("was passed, now gone") == 1
            # The image itself is still here: its pass still holds.
            assert app.query_one("#cp-lab2-built", CheckpointRow).status == "passed"
        saved = state_store.load().state.results("sandbox")
        assert saved["lab4.cat"]["status"] == "gone"
        status = run_cli("--sandbox", "status", timeout=120)
        assert "was passed, now gone" in status.stdout
    finally:
        out = run_cli("--sandbox", "--json", "cleanup", "--yes", timeout=600)
        assert json_lines(out.stdout)[-1]["leftover"] == [], out.stdout[-3000:]
