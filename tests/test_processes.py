"""Stopping helpers in the background: SIGTERM now, a detached reaper makes sure."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dlworkshop import processes

MARKER = "dlworkshop-test-helper"


def _helper(ignore_term: bool) -> subprocess.Popen:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(120)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, MARKER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _reapers() -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "-m dlworkshop.processes" in line]


def test_a_helper_that_obeys_stops_and_the_call_does_not_wait() -> None:
    proc = _helper(ignore_term=False)
    started = time.monotonic()
    processes.stop_in_background(proc.pid, MARKER, timeout=30)
    returned = time.monotonic() - started
    assert proc.wait(timeout=10) != 0  # ended by the signal
    assert returned < 5  # it did not wait for the 30 s grace
    deadline = time.monotonic() + 15
    while _reapers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _reapers()  # the reaper saw it go and went too


def test_a_helper_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    proc = _helper(ignore_term=True)
    processes.stop_in_background(proc.pid, MARKER, timeout=1)
    assert proc.poll() is None  # still there: the call returned at once
    assert proc.wait(timeout=20) == -9  # SIGKILL, from the detached reaper
    # The reaper carries the marker in its environment, never on its command line.
    assert all(MARKER not in line for line in _reapers())


def test_a_stranger_is_left_alone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        processes.stop_in_background(proc.pid, MARKER, timeout=1)
        time.sleep(2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_cores_follow_the_cgroup_quota(tmp_path) -> None:
    from dlworkshop import cores

    affinity = len(os.sched_getaffinity(0))
    assert cores.available(tmp_path) == affinity  # no limit there
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cores.available(tmp_path) == affinity
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # docker run --cpus 0.5
    assert cores.available(tmp_path) == 1
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()  # cgroup v1, as an ECS task with 1024 CPU units
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cores.available(tmp_path) == 1


def test_workers_are_bound_to_cores_in_turn_unless_a_quota_shares_them(monkeypatch) -> None:
    from dlworkshop import cores
    from dlworkshop.classifier import workers

    cpus = sorted(os.sched_getaffinity(0))
    monkeypatch.setattr(cores, "available", lambda: len(cpus))
    bound = workers.cpus_for(2 * len(cpus) + 1)
    assert bound == (cpus * 3)[: 2 * len(cpus) + 1]
    if len(cpus) > 1:  # a quota below the cores we may run on: left to the scheduler
        monkeypatch.setattr(cores, "available", lambda: len(cpus) - 1)
        assert workers.cpus_for(2) == [None, None]
