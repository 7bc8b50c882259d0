"""Lab 3's SSH tunnel: the model server and Jupyter of a container instance on this
machine's loopback, kept open across dropped connections, and the checkpoint on it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from dlworkshop import state as state_store
from dlworkshop.aws.taskdef import JUPYTER, PORTS, SERVE
from dlworkshop.context import Context
from dlworkshop.events import Event
from dlworkshop.remote import instances as remote_instances
from dlworkshop.remote.tunnel import Tunnel

NAME = "tunnel"  # state.services key: {"endpoint", "pid", "owner", "instance", "ports"}
SERVE_PORT, JUPYTER_PORT = PORTS[SERVE], PORTS[JUPYTER]
PORT_NAMES = {str(SERVE_PORT): "Model server", str(JUPYTER_PORT): "Jupyter"}


@dataclass(frozen=True)
class TunnelOpen(Event):
    """The tunnel is up: where each remote port is reachable on this machine."""

    instance: str
    host: str
    fingerprint: str
    new_host_key: bool
    urls: dict = field(default_factory=dict)  # remote port (str) -> local URL

    def render_text(self) -> str:
        first = (f"\n  [yellow]First connection: trusted host key {self.fingerprint}[/]"
                 if self.new_host_key else "")  # fmt: skip
        lines = [f"[bold green]SSH tunnel[/] to {self.instance} ({self.host}){first}"]
        lines += [f"  {PORT_NAMES.get(port, 'port ' + port):<13} {url}"
                  for port, url in self.urls.items()]  # fmt: skip
        return "\n".join(lines)


@dataclass(frozen=True)
class TunnelChanged(Event):
    """The connection dropped, or came back (same local ports)."""

    what: str

    def render_text(self) -> str:
        colour = "green" if self.what == "reconnected" else "yellow"
        return f"[{colour}]SSH tunnel {self.what}[/]"


def jupyter_token(ctx: Context, instance_id: str, wait: float = 30.0) -> str:
    """The token that the Jupyter task on this instance printed, from its CloudWatch log
    ("" when no Jupyter task runs there). Each task makes its own; a task that has just
    started may take a few seconds to print it."""
    import time

    from dlworkshop.aws import logs, taskdef, tasks

    running = [t for t in tasks.listed(ctx, taskdef.JUPYTER) if t.instance_id == instance_id]
    if not running:
        return ""
    stream = f"{taskdef.JUPYTER}/{taskdef.CONTAINER}/{running[0].task_id}"
    deadline = time.monotonic() + wait
    while True:
        token = ""
        for line in logs.follow(ctx, prefix=stream, since_seconds=24 * 3600,
                                keep_following=False, raw=True):  # fmt: skip
            found = logs.TOKEN.search(line.message)
            if found:
                token = found.group(2)  # the newest one wins
        if token or time.monotonic() > deadline:
            return token
        time.sleep(1.0)


def open_tunnel(ctx: Context, instance_id: str | None = None,
                ports: tuple[int, ...] = (SERVE_PORT, JUPYTER_PORT),
                owner: str = "cli") -> tuple[Tunnel, TunnelOpen]:  # fmt: skip
    """Connect to the instance and forward each port to a free local one; recorded in state
    so that Lab 4 and the checkpoint use it while this process lives."""
    instance = remote_instances.pick(ctx, instance_id)
    tunnel = remote_instances.connect(ctx, instance)
    urls: dict[str, str] = {}
    try:
        for port in ports:
            # "localhost" on the instance: where host-networked tasks listen there.
            local = tunnel.forward_port("localhost", port)
            urls[str(port)] = f"http://127.0.0.1:{local}"
    except Exception:
        tunnel.close()
        raise
    if str(JUPYTER_PORT) in urls:
        token = jupyter_token(ctx, instance.instance_id)
        if token:
            urls[str(JUPYTER_PORT)] += f"/lab?token={token}"
    record = {"pid": os.getpid(), "owner": owner, "instance": instance.instance_id,
              "ports": {p: u.split("/lab")[0] for p, u in urls.items()},
              "endpoint": urls.get(str(SERVE_PORT), "")}  # fmt: skip
    state_store.update(lambda s: s.services.__setitem__(NAME, record))
    ctx.state.services[NAME] = record
    _HERE.append(tunnel)
    opened = TunnelOpen(instance.instance_id, f"{instance.public}:{instance.ssh_port}",
                        tunnel.fingerprint, tunnel.trusted_new_key is not None, urls)  # fmt: skip
    return tunnel, opened


_HERE: list[Tunnel] = []  # the tunnels this process opened, so cleanup can close them


def close_here() -> None:
    """Close every tunnel this process opened (cleanup, from the app that holds them)."""
    while _HERE:
        _HERE.pop().close()


def forget(pid: int | None = None) -> None:
    """Drop the tunnel's record (only this process's, when `pid` is given)."""

    def drop(s: state_store.State) -> None:
        record = s.services.get(NAME) or {}
        if pid is None or record.get("pid") == pid:
            s.services.pop(NAME, None)

    state_store.update(drop)


def current(ctx: Context) -> dict | None:
    """The recorded tunnel, if the process holding it is still alive."""
    from dlworkshop.processes import alive

    record = ctx.state.services.get(NAME)
    if record and record.get("endpoint") and alive(int(record.get("pid") or 0)):
        return record
    return None


def check_tunnel(ctx: Context):
    """Checkpoint: the tunnel is open and the model server answers /ping through it."""
    import httpx

    from dlworkshop.checkpoints import CheckResult

    record = current(ctx)
    if record is None:
        return CheckResult.fail("No SSH tunnel is open: open it in Lab 3 (or run "
                                "`dlworkshop tunnel` and leave it running).")  # fmt: skip
    url = record["endpoint"]
    try:
        answer = httpx.get(f"{url}/ping", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        return CheckResult.fail(f"{url}/ping did not answer through the tunnel: {exc}")
    if answer.get("status") != "Healthy":
        return CheckResult.fail(f"{url}/ping answered {answer}")
    return CheckResult.ok(f"{url} → {record['instance']}:{SERVE_PORT} answers Healthy")
