"""Background helper processes: is a PID really ours, and stopping it cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

STOP_TIMEOUT = 15.0


def is_ours(pid: int, marker: str) -> bool:
    """The PID is alive (not a zombie) and its command line contains `marker`.

    A port probe alone can pass against a stranger left over from an earlier run.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline and alive(pid)


def _gone(pid: int, marker: str) -> bool:
    """True once the process has exited (reaping it if it is our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
    except ChildProcessError:
        pass
    return not is_ours(pid, marker)


def terminate(pid: int, marker: str, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, wait, then SIGKILL; True once the process is gone."""
    if not is_ours(pid, marker):
        _gone(pid, marker)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid, marker):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.2)
    return _gone(pid, marker)


def stop_in_background(pid: int, marker: str, timeout: float = STOP_TIMEOUT) -> None:
    """`terminate` without the wait: SIGTERM now, and a detached reaper waits for the
    process and kills it if it has not gone after `timeout`.

    For quitting the app: the learner gets the terminal back at once, and nothing is left
    running all the same. The marker goes by environment, not command line, so the reaper
    never looks like the process it waits for.
    """
    import subprocess
    import sys

    if not is_ours(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    subprocess.Popen(
        [sys.executable, "-m", "dlworkshop.processes", str(pid), str(timeout)],
        env={**os.environ, _REAP_MARKER: marker},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # closing the terminal must not stop the reaper
    )  # fmt: skip


_REAP_MARKER = "DLWORKSHOP_REAP_MARKER"


def stop(pid: int, marker: str, wait: bool = True) -> bool:
    """`terminate` (True once gone), or with `wait=False` `stop_in_background` (True)."""
    if wait:
        return terminate(pid, marker)
    stop_in_background(pid, marker)
    return True


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (and is not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    try:
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except IndexError:
        return False


def exit_with(owner_pid: int, on_exit, interval: float = 0.5) -> None:
    """Call `on_exit` once `owner_pid` is gone: helpers the app started die with it, even
    when it was killed and could not clean up."""
    import threading

    def watch() -> None:
        while alive(owner_pid):
            time.sleep(interval)
        on_exit()

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def die_with_parent() -> None:
    """In a child, before it runs (Popen's preexec_fn): the kernel kills it when its parent
    dies, however the parent died (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":  # the reaper that `stop_in_background` leaves behind
    import sys

    terminate(int(sys.argv[1]), os.environ[_REAP_MARKER], float(sys.argv[2]))
