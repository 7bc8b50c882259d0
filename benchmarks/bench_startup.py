"""How fast `dlworkshop-tui --sandbox` shows its labs in a real terminal (tmux, 120x40).

Reports the time to the first screen listing every lab, next to the time a bare
Textual app takes to draw in the same terminal, measured in this one run.
Run: .venv/bin/python benchmarks/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BARE = """
from textual.app import App
from textual.widgets import Label
class Bare(App):
    def compose(self):
        yield Label("Cleanup")
Bare().run()
"""


# One tmux server for the whole run, kept alive by a session that only sleeps: when the
# last session of a server ends, the server exits, and a new-session racing with that
# exit fails ("returned non-zero exit status 1", as this benchmark once did).
SOCKET = f"bench-{uuid.uuid4().hex[:8]}"


def tmux(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True,
                          check=check)  # fmt: skip


def time_to_text(command: list[str], text: str, env: dict[str, str]) -> float:
    session = f"run-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "env",
         *[f"{k}={v}" for k, v in env.items()], *command, check=True)  # fmt: skip
    try:
        while time.perf_counter() - started < 60:
            if text in tmux("capture-pane", "-p", "-t", session).stdout:
                return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError(f"{text!r} never appeared")
    finally:
        tmux("send-keys", "-t", session, "q")
        time.sleep(1.0)
        tmux("kill-session", "-t", session)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("tmux is needed (apt-get install tmux)")
    tui = str(Path(sys.executable).with_name("dlworkshop-tui"))
    ours, bare = [], []
    tmux("new-session", "-d", "-s", "keeper", "sleep", "3600", check=True)
    with tempfile.TemporaryDirectory() as home:
        env = {"DLWORKSHOP_HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
               "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
               "LANG": "C.UTF-8", "TERM": "xterm-256color"}  # fmt: skip
        try:
            for _ in range(args.runs):
                ours.append(time_to_text([tui, "--sandbox"], "Cleanup", env))
                bare.append(time_to_text([sys.executable, "-c", BARE], "Cleanup", env))
        finally:
            tmux("kill-server")
    result = {
        "runs": args.runs,
        "dlworkshop_tui_median_s": round(statistics.median(ours), 2),
        "bare_textual_median_s": round(statistics.median(bare), 2),
        "ratio": round(statistics.median(ours) / statistics.median(bare), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
