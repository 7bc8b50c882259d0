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


def time_to_text(command: list[str], text: str, env: dict[str, str]) -> float:
    session = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "40",
            "env",
            *[f"{k}={v}" for k, v in env.items()],
            *command,
        ],
        check=True,
    )
    try:
        while time.perf_counter() - started < 60:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if text in screen:
                return time.perf_counter() - started
            time.sleep(0.02)
        raise RuntimeError(f"{text!r} never appeared")
    finally:
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=False)
        time.sleep(1.0)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not shutil.which("tmux"):
        sys.exit("tmux is needed (apt-get install tmux)")
    tui = str(Path(sys.executable).with_name("dlworkshop-tui"))
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as home:
        env = {"DLWORKSHOP_HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
               "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
               "LANG": "C.UTF-8", "TERM": "xterm-256color"}  # fmt: skip
        for _ in range(args.runs):
            ours.append(time_to_text([tui, "--sandbox"], "Cleanup", env))
            bare.append(time_to_text([sys.executable, "-c", BARE], "Cleanup", env))
    result = {
        "runs": args.runs,
        "dlworkshop_tui_median_s": round(statistics.median(ours), 2),
        "bare_textual_median_s": round(statistics.median(bare), 2),
        "ratio": round(statistics.median(ours) / statistics.median(bare), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
