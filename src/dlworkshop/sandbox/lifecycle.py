"""Start, find, check and stop the background sandbox; its endpoint and PID live in state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dlworkshop import state as state_store
from dlworkshop.errors import UserError
from dlworkshop.paths import config_dir, ensure_private_dir

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
MARKER = "dlworkshop.sandbox.daemon"


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox as recorded in state."""

    pid: int
    endpoint: str
    started_at: float
    owner: str
    log: str

    @classmethod
    def from_record(cls, record: dict) -> SandboxInfo:
        return cls(
            int(record["pid"]),
            str(record["endpoint"]),
            float(record.get("started_at", 0)),
            str(record.get("owner", "cli")),
            str(record.get("log", "")),
        )

    def to_record(self) -> dict:
        return {
            "pid": self.pid,
            "endpoint": self.endpoint,
            "started_at": self.started_at,
            "owner": self.owner,
            "log": self.log,
        }


def _is_our_process(pid: int) -> bool:
    """The PID is alive and is a dlworkshop sandbox (not a recycled PID or a stranger)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        return False
    return MARKER in cmdline


def _answers(endpoint: str, timeout: float = 2.0) -> bool:
    """The endpoint's moto API answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def healthy(info: SandboxInfo) -> bool:
    """Our own process is alive and its endpoint answers (a port probe alone can lie)."""
    return _is_our_process(info.pid) and _answers(info.endpoint)


def current() -> SandboxInfo | None:
    """The running sandbox recorded in state, if it is really alive."""
    record = state_store.load().state.sandbox
    if not record:
        return None
    try:
        info = SandboxInfo.from_record(record)
    except (KeyError, TypeError, ValueError):
        return None
    return info if healthy(info) else None


def start(owner: str = "cli", timeout: float = START_TIMEOUT) -> tuple[SandboxInfo, bool]:
    """Reuse the running sandbox or start one; returns (info, started_by_this_call)."""
    running = current()
    if running:
        return running, False
    log_path = ensure_private_dir(config_dir()) / "sandbox.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", MARKER],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            # Its own session, so closing the terminal or the app's Ctrl+C does not kill it.
            start_new_session=True,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line or proc.poll() is not None:
            break
    proc.stdout.close()
    if not line:
        _terminate(proc.pid)
        raise UserError(f"The sandbox did not start within {timeout:.0f} s; see {log_path}.")
    ready = json.loads(line)
    info = SandboxInfo(proc.pid, ready["endpoint"], ready["started_at"], owner, str(log_path))

    def _record(s: state_store.State) -> None:
        s.sandbox = info.to_record()

    state_store.update(_record)
    return info, True


def _terminate(pid: int) -> bool:
    """SIGTERM, wait, then SIGKILL; True once the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if _reap(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.2)
    return _reap(pid)


def _reap(pid: int) -> bool:
    """True if the process has exited (reaping it if it is our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
    except ChildProcessError:
        pass
    return not _is_our_process(pid)


def stop(only: SandboxInfo | None = None) -> SandboxInfo | None:
    """Stop the recorded sandbox (or only `only`); returns what was stopped, if anything."""
    record = state_store.load().state.sandbox
    info = None
    if record:
        try:
            info = SandboxInfo.from_record(record)
        except (KeyError, TypeError, ValueError):
            info = None
    if only is not None and (info is None or info.pid != only.pid):
        # Someone else's sandbox is recorded now: stop ours, leave theirs alone.
        if _is_our_process(only.pid):
            _terminate(only.pid)
        return only
    stopped = None
    if info is not None and _is_our_process(info.pid):
        if not _terminate(info.pid):
            raise UserError(f"The sandbox (PID {info.pid}) would not stop.")
        stopped = info

    def _clear(s: state_store.State) -> None:
        s.sandbox = None

    state_store.update(_clear)
    return stopped
