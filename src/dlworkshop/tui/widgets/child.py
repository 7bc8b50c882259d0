"""Child processes that print JSON events (`dlworkshop --json …`), as the TUI runs MXNet.

A child keeps MXNet's threads off the UI's GIL, and Stop can really stop it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable


def start(argv: list[str], app: object) -> subprocess.Popen:
    """Start the child (OMP_NUM_THREADS left to the trainer); it ends when the app does."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=env)  # fmt: skip

    def end() -> None:
        if proc.poll() is None:
            proc.terminate()

    add = getattr(app, "add_cleanup", None)
    if add is not None:
        add(end)
    return proc


def relay(proc: subprocess.Popen, each: Callable[[dict], object]) -> tuple[int, str]:
    """Hand each JSON event the child prints to `each`; then (its exit code, why it failed:
    its Failed event's message, else the end of what it printed to stderr)."""
    assert proc.stdout is not None and proc.stderr is not None
    error = ""
    for line in proc.stdout:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "failed":
            error = event.get("message", "")
        each(event)
    code = proc.wait()
    if code and not error:
        error = proc.stderr.read()[-400:].strip()
    return code, error
