"""The sandbox process: runs the moto server on loopback until it is told to stop."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time


def _start_registry(directory: str | None, endpoint: str):
    """The ECR stand-in, or None and the reason (the rest of the sandbox works without it)."""
    if not directory:
        return None, "no registry was asked for"
    from pathlib import Path

    from dlworkshop.sandbox import registry
    from dlworkshop.sandbox.processes import free_port

    try:
        user, password = registry.ecr_credentials(endpoint)
        return registry.start(Path(directory), user, password, free_port()), ""
    except Exception as exc:  # no docker-registry, no bcrypt: the rest of the sandbox still works
        print(f"no registry: {exc}", file=sys.stderr, flush=True)
        return None, str(exc)


def main(argv: list[str] | None = None) -> int:
    """Start moto on 127.0.0.1, announce the endpoint on stdout, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="dlworkshop-sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--owner-pid", type=int, help="exit when this process is gone")
    parser.add_argument("--registry-dir", help="run the sandbox's ECR registry with data here")
    args = parser.parse_args(argv)

    import logging

    from moto.server import ThreadedMotoServer

    # One log line per request would grow the log forever; keep warnings only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    registry, registry_note = _start_registry(args.registry_dir, endpoint)
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.owner_pid:
        from dlworkshop.sandbox.processes import exit_with

        exit_with(args.owner_pid, stop.set)
    # One line that the parent waits for; nothing else is printed to stdout.
    ready = {
        "endpoint": endpoint,
        "pid": os.getpid(),
        "started_at": time.time(),
        "registry": registry.address if registry else "",
        "registry_note": registry_note,
    }
    print(json.dumps(ready), flush=True)
    while not stop.wait(0.5):
        if registry and registry.proc.poll() is not None:
            print("the registry exited; see registry.log", file=sys.stderr, flush=True)
            registry = None
    if registry:
        registry.stop()
    server.stop()
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
