"""The app in a real terminal (tmux, 120x40): labs listed, n, ?, and q exits with 0."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _wait_for(session: str, text: str, timeout: float = 30.0, present: bool = True) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if (text in screen) == present:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never {'appeared' if present else 'went'}:\n{screen}")


def test_tui_in_tmux(home: Path, sandbox: dict) -> None:
    session = f"dlw-{uuid.uuid4().hex[:8]}"
    exit_file = home / "exit-code"
    tui = Path(sys.executable).with_name("dlworkshop-tui")
    command = f"{shlex.quote(str(tui))} --sandbox; echo $? > {shlex.quote(str(exit_file))}"
    # A clean environment, as a learner's terminal has: nothing from pytest leaks in.
    keep = ("DLWORKSHOP_", "AWS_", "XDG_", "HOME", "PATH", "LANG")
    env = [f"{k}={v}" for k, v in os.environ.items() if k.startswith(keep)]
    _tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "120",
        "-y",
        "40",
        "env",
        "-i",
        *env,
        "TERM=xterm-256color",
        "sh",
        "-c",
        command,
    )
    try:
        screen = _wait_for(session, "Cleanup")
        for word in ("Lab 1", "Lab 2", "Lab 3", "Lab 4", "Cleanup", "Overview", "Appendix"):
            assert word in screen
        _tmux("send-keys", "-t", session, "n")
        _wait_for(session, "CloudFormation stack")
        _tmux("send-keys", "-t", session, "?")
        _wait_for(session, "dlworkshop · keys")
        _tmux("send-keys", "-t", session, "Escape")
        # ESC and q sent together read as alt+q: let the help close first.
        _wait_for(session, "dlworkshop · keys", present=False)
        _tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 30
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
