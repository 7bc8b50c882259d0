"""The sandbox process: moto behind our front, the registry, and the agents that make moto
behave like AWS, all on loopback until it is told to stop."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _start_registry(directory: Path, endpoint: str):
    """The ECR stand-in, or None and the reason (the rest of the sandbox works without it)."""
    from dlworkshop.processes import free_port
    from dlworkshop.sandbox import registry

    try:
        user, password = registry.ecr_credentials(endpoint)
        return registry.start(directory, user, password, free_port()), ""
    except Exception as exc:  # no docker-registry, no bcrypt: the rest of the sandbox still works
        print(f"no registry: {exc}", file=sys.stderr, flush=True)
        return None, str(exc)


def _engine() -> Any:
    from dlworkshop.container import engine

    return engine.client()


def _docker_socket() -> str:
    """The engine's socket path when it is a local UNIX socket (forwarded over SSH)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host[len("unix://"):] if host.startswith("unix://") else ""


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, announce it on stdout, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="dlworkshop-sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--owner-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--home", required=True, help="the sandbox's private folder")
    args = parser.parse_args(argv)

    import ipaddress
    import logging

    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("the sandbox listens on 127.0.0.0/8 only")
    import warnings

    # One log line per request would grow the log forever; keep warnings only. moto warns
    # on every stack about the resource types it does not model: the events say so.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="moto")

    from dlworkshop.sandbox import front
    from dlworkshop.sandbox.account import AccountAgent
    from dlworkshop.sandbox.cloudformation import CloudFormationAgent
    from dlworkshop.sandbox.cloudwatch import CloudWatchLogsAgent
    from dlworkshop.sandbox.credentials import TaskCredentials
    from dlworkshop.sandbox.ecr import EcrAgent
    from dlworkshop.sandbox.instances import InstanceAgent
    from dlworkshop.sandbox.runtime import Runtime
    from dlworkshop.sandbox.tasks import TaskAgent

    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(32)
    agents: list = []
    runtime_box: list[Runtime] = []

    def status() -> dict:
        r = runtime_box[0]
        return {"pid": os.getpid(), "endpoint": r.endpoint,
                "registry": r.registry, "registry_note": r.registry_note,
                "agents": [a.status() for a in agents]}  # fmt: skip

    credentials = TaskCredentials()
    server = front.serve(args.host, args.port, secret, status, credentials)
    host, port = server.server_address[:2]
    endpoint = f"http://{host}:{port}"
    registry, registry_note = _start_registry(home / "registry", endpoint)
    runtime = Runtime(endpoint, home, registry.address if registry else "", registry_note)
    runtime_box.append(runtime)
    credentials.runtime = runtime

    instances = InstanceAgent(runtime, _docker_socket())
    agents.extend([
        CloudFormationAgent(runtime, after_change=instances.sync_now),
        AccountAgent(runtime),
        EcrAgent(runtime),
        CloudWatchLogsAgent(runtime),
        instances,
        TaskAgent(runtime, instances.address_of, _engine, instances.is_up, credentials),
    ])  # fmt: skip
    for agent in agents:
        agent.start()

    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.owner_pid:
        from dlworkshop.processes import exit_with

        exit_with(args.owner_pid, stop.set)
    # One line that the parent waits for; nothing else is printed to stdout.
    ready = {
        "endpoint": endpoint,
        "pid": os.getpid(),
        "started_at": time.time(),
        "registry": runtime.registry,
        "registry_note": registry_note,
        "secret": secret,
    }
    print(json.dumps(ready), flush=True)
    while not stop.wait(0.5):
        if registry and registry.proc.poll() is not None:
            print("the registry exited; see registry.log", file=sys.stderr, flush=True)
            registry = None
            runtime.registry = ""
            runtime.registry_note = ("The sandbox's registry exited (see its registry.log); "
                                     "restart the sandbox: `dlworkshop sandbox stop`, then "
                                     "start it again.")  # fmt: skip
    # Tasks first (their containers), then the instances' SSH, then moto's patches.
    for agent in reversed(agents):
        try:
            agent.stop()
        except Exception as exc:  # stop the rest whatever one of them says
            print(f"stopping {agent.name}: {exc}", file=sys.stderr, flush=True)
    if registry:
        registry.stop()
    server.shutdown()
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
