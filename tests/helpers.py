"""Helpers for running the real commands in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m dlworkshop ARGS` with this test's environment (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "dlworkshop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def json_lines(text: str) -> list[dict]:
    """Parse JSON-lines output; every line must be an object with a "type"."""
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert events and all(isinstance(e, dict) and "type" in e for e in events), text
    return events
