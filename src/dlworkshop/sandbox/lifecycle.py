"""Start, find, check and stop the background sandbox; its endpoint and PID live in state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from dlworkshop import processes
from dlworkshop import state as state_store
from dlworkshop.errors import UserError
from dlworkshop.locks import held
from dlworkshop.paths import config_dir, ensure_private_dir
from dlworkshop.sandbox.front import HEALTH, SECRET_HEADER, STATUS

START_TIMEOUT = 60.0
MARKER = "dlworkshop.sandbox.daemon"


@dataclass(frozen=True)
class SandboxInfo:
    """A running sandbox as recorded in state."""

    pid: int
    endpoint: str
    started_at: float
    owner: str
    log: str
    registry: str = ""  # host:port of the ECR stand-in, or "" when there is none
    registry_note: str = ""  # why there is none
    secret: str = ""  # opens the sandbox's internal API (status, moto's own)

    def __repr__(self) -> str:  # never print the secret
        return f"SandboxInfo(pid={self.pid}, endpoint={self.endpoint!r})"

    @classmethod
    def from_record(cls, record: dict) -> SandboxInfo:
        return cls(
            int(record["pid"]),
            str(record["endpoint"]),
            float(record.get("started_at", 0)),
            str(record.get("owner", "cli")),
            str(record.get("log", "")),
            str(record.get("registry", "")),
            str(record.get("registry_note", "")),
            str(record.get("secret", "")),
        )

    def to_record(self) -> dict:
        return {
            "pid": self.pid,
            "endpoint": self.endpoint,
            "started_at": self.started_at,
            "owner": self.owner,
            "log": self.log,
            "registry": self.registry,
            "registry_note": self.registry_note,
            "secret": self.secret,
        }


def _answers(endpoint: str, pid: int, timeout: float = 2.0) -> bool:
    """The sandbox at the endpoint answers, and it is the process with this PID."""
    try:
        with urllib.request.urlopen(f"{endpoint}{HEALTH}", timeout=timeout) as resp:
            return json.loads(resp.read()).get("pid") == pid
    except (urllib.error.URLError, OSError, ValueError):
        return False


def healthy(info: SandboxInfo) -> bool:
    """Our own process is alive and its endpoint answers (a port probe alone can lie)."""
    return processes.is_ours(info.pid, MARKER) and _answers(info.endpoint, info.pid)


def status(info: SandboxInfo, timeout: float = 5.0) -> dict:
    """What the sandbox runs: its agents, instances, tasks and registry."""
    request = urllib.request.Request(f"{info.endpoint}{STATUS}",
                                     headers={SECRET_HEADER: info.secret})  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        return json.loads(resp.read())


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


def start(
    owner: str = "cli", timeout: float = START_TIMEOUT, owner_pid: int | None = None
) -> tuple[SandboxInfo, bool]:
    """Reuse the running sandbox or start one; returns (info, started_by_this_call).

    With `owner_pid` the sandbox exits by itself once that process is gone.
    """
    # Held across "is one running? start one, record it": two commands started together
    # get one sandbox, never one each (the second waits, then finds the first's).
    with held(config_dir() / "sandbox.lock"):
        running = current()
        if running:
            return running, False
        return _spawn(owner, timeout, owner_pid), True


def _spawn(owner: str, timeout: float, owner_pid: int | None) -> SandboxInfo:
    """Start the daemon, wait for its ready line and record it in state."""
    log_path = ensure_private_dir(config_dir()) / "sandbox.log"
    home = config_dir() / "sandbox"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", MARKER, "--home", str(home)]
            + (["--owner-pid", str(owner_pid)] if owner_pid else []),
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
        processes.terminate(proc.pid, MARKER)
        raise UserError(f"The sandbox did not start within {timeout:.0f} s; see {log_path}.")
    ready = json.loads(line)
    info = SandboxInfo(
        proc.pid, ready["endpoint"], ready["started_at"], owner, str(log_path),
        ready.get("registry", ""), ready.get("registry_note", ""), ready.get("secret", ""),
    )  # fmt: skip

    def _record(s: state_store.State) -> None:
        s.sandbox = info.to_record()

    state_store.update(_record)
    return info


def stop(only: SandboxInfo | None = None, wait: bool = True) -> SandboxInfo | None:
    """Stop the recorded sandbox (or only `only`); returns what was stopped, if anything.

    With `wait=False` it is asked to stop and left to finish on its own (see
    `processes.stop_in_background`).
    """
    with held(config_dir() / "sandbox.lock"):  # not while another command is starting one
        return _stop(only, wait)


def _stop(only: SandboxInfo | None, wait: bool) -> SandboxInfo | None:
    record = state_store.load().state.sandbox
    info = None
    if record:
        try:
            info = SandboxInfo.from_record(record)
        except (KeyError, TypeError, ValueError):
            info = None
    if only is not None and (info is None or info.pid != only.pid):
        # Someone else's sandbox is recorded now: stop ours, leave theirs alone.
        if processes.is_ours(only.pid, MARKER):
            processes.stop(only.pid, MARKER, wait)
        return only
    stopped = None
    if info is not None and processes.is_ours(info.pid, MARKER):
        if not processes.stop(info.pid, MARKER, wait):
            raise UserError(f"The sandbox (PID {info.pid}) would not stop.")
        stopped = info

    def _clear(s: state_store.State) -> None:
        s.sandbox = None

    state_store.update(_clear)
    return stopped
