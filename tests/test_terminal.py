"""The app in a real terminal (tmux, 120x40): labs listed, n, ?, and q exits with 0."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ENGINE, needs_engine
from helpers import run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


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


def _start(session: str, command: str) -> None:
    """Run `command` in a detached 120x40 tmux session with a learner's clean environment."""
    keep = ("DLWORKSHOP_", "AWS_", "XDG_", "DOCKER_", "HOME", "PATH", "LANG")
    env = [f"{k}={v}" for k, v in os.environ.items() if k.startswith(keep)]
    _tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40",
          "env", "-i", *env, "TERM=xterm-256color", "sh", "-c", command)  # fmt: skip


def _wait_exit(exit_file: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return exit_file.read_text().strip()


@contextlib.contextmanager
def _session(command: str) -> Iterator[str]:
    """A tmux session running `command`, killed afterwards whatever happened."""
    session = f"dlw-{uuid.uuid4().hex[:8]}"
    _start(session, command)
    try:
        yield session
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def _ensure_default_image() -> None:
    """dlworkshop/mxnet:latest, built by the Lab 2 pilot test, else here (cached layers)."""
    from dlworkshop.container.build import DEFAULT_TAG

    if not ENGINE.images.list(name=DEFAULT_TAG):
        assert run_cli("image", "build", timeout=1200).returncode == 0


def _tui_command(exit_file: Path) -> str:
    tui = Path(sys.executable).with_name("dlworkshop-tui")
    return f"{shlex.quote(str(tui))} --sandbox; echo $? > {shlex.quote(str(exit_file))}"


def test_tui_in_tmux(home: Path, sandbox: dict) -> None:
    exit_file = home / "exit-code"
    with _session(_tui_command(exit_file)) as session:
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
        assert _wait_exit(exit_file) == "0"


@needs_engine
def test_open_shell_hands_the_terminal_to_bash_and_back(home: Path, sandbox: dict) -> None:
    _ensure_default_image()
    exit_file = home / "exit-code"
    with _session(_tui_command(exit_file)) as session:
        _wait_for(session, "Cleanup")
        _tmux("send-keys", "-t", session, "3")
        _wait_for(session, "Open shell")
        _tmux("send-keys", "-t", session, "C-p")
        _wait_for(session, "Search for commands")
        _tmux("send-keys", "-t", session, "-l", "open a shell")
        _wait_for(session, "docker run -it --rm")
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "return to dlworkshop", timeout=60)
        _tmux("send-keys", "-t", session, "-l",
              "python -c 'import mxnet; print(\"mx\", mxnet.__version__)'")  # fmt: skip
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "mx 1.9.1", timeout=60)
        _tmux("send-keys", "-t", session, "-l", "exit 0")
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "Shell exited: status 0.", timeout=30)
        # The checkpoints rerun after the shell; q would ask first while they run.
        _wait_for(session, "running…", timeout=60, present=False)
        _tmux("send-keys", "-t", session, "q")
        assert _wait_exit(exit_file) == "0"


@needs_engine
def test_image_push_in_a_terminal_draws_a_bar_per_layer(home: Path, sandbox: dict) -> None:
    from dlworkshop import state as state_store

    _ensure_default_image()
    # A stack of this test's own: one named "dlworkshop" left in the session's sandbox made
    # Lab 1's tests that deploy the default stack find it there when they ran later.
    state_store.update(lambda s: setattr(s, "stack_name", "push-bars"))
    assert run_cli("--sandbox", "stack", "deploy", "--yes", timeout=300).returncode == 0
    exit_file = home / "exit-code"
    cli = shlex.quote(str(Path(sys.executable).with_name("dlworkshop")))
    command = f"{cli} --sandbox image push; echo $? > {shlex.quote(str(exit_file))}; sleep 30"
    with _session(command) as session:
        assert _wait_exit(exit_file, timeout=300) == "0"
        screen = _tmux("capture-pane", "-p", "-S", "-100", "-t", session)
        bars = [line for line in screen.splitlines() if "━━━" in line]
        # Every layer done: pushed, already there, or mounted from another repository.
        assert bars and all(re.search(r" (Pushed|Layer already exists|Mounted from \S+)$",
                                      line.rstrip()) for line in bars), screen  # fmt: skip
        # The digest comes last, below the finished bars.
        assert screen.rstrip().splitlines()[-1].startswith("digest sha256:"), screen


def test_lab3_shell_on_the_instance_and_back(home: Path, sandbox: dict) -> None:
    # Lab 1's stack (instances with SSH) is all a shell needs; the key is the workshop's,
    # made for a stack of this test's own (the session's sandbox has others').
    from dlworkshop import state as state_store

    state_store.update(lambda s: setattr(s, "stack_name", "lab3-shell"))
    assert run_cli("--sandbox", "stack", "deploy", "--yes", timeout=300).returncode == 0
    exit_file = home / "exit-code"
    with _session(_tui_command(exit_file)) as session:
        _wait_for(session, "Cleanup")
        _tmux("send-keys", "-t", session, "4")
        _wait_for(session, "h Shell")  # the lab's own key, in the footer while it is shown
        _tmux("send-keys", "-t", session, "h")
        _wait_for(session, "return to dlworkshop", timeout=60)
        _tmux("send-keys", "-t", session, "-l", "echo shell-on-$HOSTNAME-as-$USER")
        _tmux("send-keys", "-t", session, "Enter")
        screen = _wait_for(session, "-as-ec2-user", timeout=30)
        assert re.search(r"shell-on-ip-127-\d+-\d+-\d+-as-ec2-user", screen), screen
        _tmux("send-keys", "-t", session, "-l", "exit 0")
        _tmux("send-keys", "-t", session, "Enter")
        _wait_for(session, "Shell closed (status 0)", timeout=30)
        _tmux("send-keys", "-t", session, "q")
        assert _wait_exit(exit_file) == "0"


def _gone(pid: int, timeout: float) -> bool:
    """The process has exited (or is a zombie waiting for init) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("delay", [0.1, 0.5, 1.0])
def test_the_app_exits_when_its_terminal_goes_away_while_quitting(home: Path, delay: float) -> None:
    # No shared sandbox: the app starts its own, so quitting has helpers to stop.
    pid_file = home / "tui.pid"
    tui = Path(sys.executable).with_name("dlworkshop-tui")
    command = f"echo $$ > {shlex.quote(str(pid_file))}; exec {shlex.quote(str(tui))} --sandbox"
    with _session(command) as session:
        _wait_for(session, "sandbox (offline) ·")
        pid = int(pid_file.read_text())
        from dlworkshop.sandbox import lifecycle

        deadline = time.monotonic() + 60
        while (sandbox := lifecycle.current()) is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the app starts its sandbox just after its first frame
        assert sandbox is not None
        _tmux("send-keys", "-t", session, "q")
        time.sleep(delay)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        # Orphaned with its terminal deleted, it once spun at 100% CPU forever.
        assert _gone(pid, 20), Path(f"/proc/{pid}/status").read_text()[:400]
    # What it started went with it: quitting leaves the sandbox to stop in the background,
    # and it does, whenever the terminal went away.
    assert lifecycle.current() is None
    assert _gone(sandbox.pid, 30)
