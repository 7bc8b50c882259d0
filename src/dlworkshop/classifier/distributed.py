"""One node of a distributed training run: MXNet's parameter server on this instance.

Each node (one ECS task per container instance, host networking) runs a server and a
worker, and the first node ("the master") the scheduler too, as MXNet's own launcher
places them. ps-lite is configured by the DMLC_* environment the task was started with;
this module starts the scheduler and server beside the worker, which is this process.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from dlworkshop.errors import UserError
from dlworkshop.events import Event, Log
from dlworkshop.processes import die_with_parent

NEEDED = ("DMLC_PS_ROOT_URI", "DMLC_PS_ROOT_PORT", "DMLC_NUM_SERVER", "DMLC_NUM_WORKER",
          "DMLC_NODE_HOST")  # fmt: skip
FINISH_SECONDS = 60  # after the worker ends, how long the scheduler and server may take
REPORT_SECONDS = 5.0  # how often a worker's progress is written within an epoch


def node_host() -> str:
    return os.environ.get("DMLC_NODE_HOST", "")


def is_master() -> bool:
    """The master runs the scheduler: its address is the root URI."""
    return node_host() == os.environ.get("DMLC_PS_ROOT_URI")


def check_environment() -> None:
    """Say which DMLC_* variable is missing before ps-lite waits forever without it."""
    missing = [name for name in NEEDED if not os.environ.get(name)]
    if missing:
        raise UserError(f"A distributed node needs {', '.join(missing)} in its environment: "
                        "`dlworkshop train --distributed N` starts the nodes with them.")


def is_worker() -> bool:
    """This process is the node's worker (started by its node with DMLC_ROLE=worker)."""
    return os.environ.get("DMLC_ROLE") == "worker"


def roles() -> list[str]:
    """What this node runs, in the order it starts them."""
    return ["scheduler", "server", "worker"] if is_master() else ["server", "worker"]


def _relay(proc: subprocess.Popen, role: str, lines: queue.Queue) -> None:
    """A process's output, each line marked with its role and address; then the role
    itself, to say its output has ended."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(f"[{role} {node_host()}] {line.rstrip()}")
    lines.put(role)


def run_node(argv: list[str]) -> Iterator[Event]:
    """Run this node's roles as processes, as MXNet's own launcher does, and relay their
    output; `argv` is the worker's command line (this one). The scheduler and servers end
    by themselves once every worker has left, which a worker does as its process ends."""
    check_environment()
    lines: queue.Queue = queue.Queue()
    started: list[tuple[str, subprocess.Popen]] = []
    for role in roles():
        env = {**os.environ, "DMLC_ROLE": role}
        # Importing mxnet with DMLC_ROLE set to server or scheduler runs that role, then exits.
        command = argv if role == "worker" else [sys.executable, "-c", "import mxnet"]
        if role == "worker":
            # Its lines as they come (not a pipe's buffer later), unwrapped.
            env.update(PYTHONUNBUFFERED="1", COLUMNS="200")
        else:
            env["OMP_NUM_THREADS"] = "1"
        # A node killed from outside (its task stopped, a timeout) takes its roles with it.
        proc = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent)  # fmt: skip
        threading.Thread(target=_relay, args=(proc, role, lines), daemon=True).start()
        started.append((role, proc))
    who = {"scheduler": "the scheduler", "server": "a server", "worker": "a worker"}
    named = [who[r] for r in roles()]
    yield Log(f"Node {node_host()} runs {', '.join(named[:-1])} and {named[-1]} of a "
              "distributed run "
              f"(scheduler at {os.environ['DMLC_PS_ROOT_URI']}:"
              f"{os.environ['DMLC_PS_ROOT_PORT']}).")  # fmt: skip
    procs = dict(started)
    failed = ""
    try:
        open_streams = len(started)
        while open_streams:
            line = lines.get()
            if line in procs:  # that role's output ended: it is exiting
                open_streams -= 1
                code = procs[line].wait()
                if code != 0:  # the others would wait for it forever: end them
                    failed = f"{line} exited with code {code}"
                    break
                continue
            yield Log(line)
        code = procs["worker"].wait() if not failed else 1
        for role, proc in started[:-1]:
            try:
                proc.wait(timeout=FINISH_SECONDS if code == 0 else 0)
            except subprocess.TimeoutExpired:
                if code == 0:
                    yield Log(f"The {role} was still running {FINISH_SECONDS} s after the "
                              "worker finished: stopped it.", "warning")  # fmt: skip
    finally:
        for _, proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0:
        raise UserError(f"On node {node_host()}, the {failed or f'worker exited with code {code}'}"
                        ": its output is above.")  # fmt: skip


def write_status(out: str, status: dict) -> None:
    """A worker's progress as <out>/workers/<rank>.json (S3 or a folder), whole or not at all."""
    import json

    from dlworkshop.atomic import write_atomic
    from dlworkshop.aws import s3uri

    name = f"workers/{status['rank']}.json"
    if s3uri.is_s3(out):
        s3uri.put_json(s3uri.client(), out.rstrip("/") + "/" + name, status)
        return
    target = Path(out).expanduser() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(status, indent=2).encode(), mode=0o644)
