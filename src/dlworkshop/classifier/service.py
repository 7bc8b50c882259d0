"""The local model server the app starts on loopback (the sandbox's stand-in for ECS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

from dlworkshop import processes
from dlworkshop import state as state_store
from dlworkshop.classifier.registry import DEFAULT_MODEL
from dlworkshop.errors import UserError
from dlworkshop.paths import config_dir, ensure_private_dir

NAME = "model_server"
MARKER = "-m dlworkshop serve"
START_TIMEOUT = 180.0  # the first start fetches and converts the model


@dataclass(frozen=True)
class ServerInfo:
    """A running model server."""

    endpoint: str
    pid: int | None
    owner: str
    model: str
    management: str = ""  # the management API's URL (register and unregister models)

    def to_record(self) -> dict:
        return {"endpoint": self.endpoint, "pid": self.pid, "owner": self.owner,
                "model": self.model, "management": self.management,
                "started_at": time.time()}  # fmt: skip


def ping(endpoint: str, timeout: float = 2.0) -> bool:
    """The endpoint answers /ping as Healthy."""
    import httpx

    try:
        return httpx.get(f"{endpoint}/ping", timeout=timeout).json().get("status") == "Healthy"
    except (httpx.HTTPError, ValueError, AttributeError):
        return False


def current() -> ServerInfo | None:
    """The recorded model server, if our process is alive and healthy."""
    record = state_store.load().state.services.get(NAME)
    if not record or not record.get("pid"):
        return None
    pid = int(record["pid"])
    info = ServerInfo(record["endpoint"], pid, record.get("owner", "?"),
                      record.get("model", DEFAULT_MODEL), record.get("management", ""))  # fmt: skip
    if processes.is_ours(pid, MARKER) and ping(info.endpoint):
        return info
    return None


def start(owner: str = "tui", model: str = DEFAULT_MODEL) -> tuple[ServerInfo, bool]:
    """Reuse the running local model server or start one; (info, started_by_this_call)."""
    running = current()
    if running:
        return running, False
    port, management = processes.free_port(), processes.free_port()
    log_path = ensure_private_dir(config_dir()) / "model-server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dlworkshop", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--model", model, "--log-level", "warning",
             "--management-port", str(management),
             "--owner-pid", str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=dict(os.environ),
            start_new_session=True,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while not ping(endpoint, 1.0):
        if proc.poll() is not None:
            raise UserError(f"The model server stopped while starting; see {log_path}.")
        if time.monotonic() > deadline:
            processes.terminate(proc.pid, MARKER)
            raise UserError(f"The model server did not start in time; see {log_path}.")
        time.sleep(0.2)
    info = ServerInfo(endpoint, proc.pid, owner, model, f"http://127.0.0.1:{management}")
    state_store.update(lambda s: s.services.__setitem__(NAME, info.to_record()))
    return info, True


def stop(only: ServerInfo | None = None, wait: bool = True) -> bool:
    """Stop the recorded local model server (or only `only`); True if one was stopped.

    With `wait=False` it is asked to stop and left to finish on its own.
    """
    record = state_store.load().state.services.get(NAME) or {}
    pid = only.pid if only else record.get("pid")
    stopped = pid is not None and processes.is_ours(int(pid), MARKER)
    if stopped and pid is not None:
        processes.stop(int(pid), MARKER, wait)
    if not only or record.get("pid") == only.pid:

        def forget(s: state_store.State) -> None:
            s.services.pop(NAME, None)

        state_store.update(forget)
    return stopped


def register(info: ServerInfo, model: str) -> None:
    """Serve `model` too, through the running server's management API (no restart)."""
    import httpx

    answer = httpx.post(f"{info.management}/models", params={"url": model}, timeout=300)
    if answer.status_code == 409:
        return  # served already
    if answer.status_code != 200:
        message = answer.json().get("message", answer.text) if answer.content else answer.text
        raise UserError(f"The model server would not load {model}: {message}")
