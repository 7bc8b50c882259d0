"""The Docker engine to talk to: DOCKER_HOST, else the current Docker context, else local.

An ssh:// engine (a container instance's, as the original workshop built on) is reached
through our own SSH tunnel with the workshop key, forwarding its /var/run/docker.sock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from dlworkshop.errors import UserError

REMOTE_SOCKET = "/var/run/docker.sock"
_TUNNELS: dict[str, Any] = {}  # one SSH connection per ssh:// engine, for the process
_TUNNELS_LOCK = threading.Lock()


def _tunnel(url: str) -> Any:
    """The SSH tunnel to the engine at ssh://USER@HOST, opened once for the process."""
    from dlworkshop import state as state_store
    from dlworkshop.remote.tunnel import SshTarget, Tunnel

    # A build and the checks ask from different threads: open one tunnel, not two.
    with _TUNNELS_LOCK:
        tunnel = _TUNNELS.get(url)
        if tunnel is None:
            tunnel = Tunnel(SshTarget.parse(url), state_store.load().state.key_path)
            try:
                tunnel.local_socket = tunnel.forward_socket(REMOTE_SOCKET)
            except Exception:
                tunnel.close()  # not kept half-open: the next call tries afresh
                raise
            _TUNNELS[url] = tunnel
        return tunnel


def _host() -> str:
    """DOCKER_HOST, else the current Docker context's host, else "" (the local default)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    from docker.context import ContextAPI

    context = ContextAPI.get_current_context()
    return (context.Host if context else None) or ""


def cli_environment() -> dict[str, str]:
    """The environment for the docker CLI: over ssh://, our tunnel (the CLI's own ssh would
    need the workshop key in ~/.ssh/config); otherwise the learner's own settings."""
    env = dict(os.environ)
    host = _host()
    if host.startswith("ssh://"):
        env["DOCKER_HOST"] = f"unix://{_tunnel(host).local_socket}"
    return env


def is_remote() -> bool:
    """The engine is reached over the network (so it cannot see this machine's files)."""
    return _host().startswith(("ssh://", "tcp://"))


def client() -> Any:
    """A Docker SDK client for the engine the learner's `docker` command would use."""
    import docker
    from docker.errors import DockerException

    try:
        host = _host()
        if host.startswith("ssh://"):
            return docker.DockerClient(base_url=f"unix://{_tunnel(host).local_socket}")
        if os.environ.get("DOCKER_HOST") or not host:
            return docker.from_env()  # also DOCKER_TLS_VERIFY and DOCKER_CERT_PATH
        return docker.DockerClient(base_url=host)  # the Docker context's engine
    except DockerException as exc:
        raise UserError(
            f"No Docker engine answered ({exc}). Start Docker, or start the project's own "
            "engine with `scripts/sandbox-docker.sh start` and use it with "
            "DOCKER_HOST=unix:///run/dlworkshop-docker/docker.sock, or build on a "
            "container instance with DOCKER_HOST=ssh://ec2-user@HOST."
        ) from None
