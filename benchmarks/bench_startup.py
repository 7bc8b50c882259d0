"""How fast `dlworkshop-tui --sandbox` starts and quits in a real terminal (tmux, 120x40).

Reports the time to the first screen listing every lab and the time from `q` to the
shell's next line, next to a bare Textual app's in the same terminal, in this one run.
Run: .venv/bin/python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# The bare Textual app: a Header, a Label and a Footer.
BARE = """
from textual.app import App
from textual.widgets import Footer, Header, Label
class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]
    def compose(self):
        yield Header()
        yield Label("Cleanup")
        yield Footer()
Bare().run()
"""


# One tmux server for the whole run, kept alive by a session that only sleeps: when the
# last session of a server ends, the server exits, and a new-session racing with that
# exit fails ("returned non-zero exit status 1", as this benchmark once did).
SOCKET = f"bench-{uuid.uuid4().hex[:8]}"


def tmux(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True,
                          check=check)  # fmt: skip


def _wait(session: str, started: float, present: str, absent: str = "") -> float:
    """Seconds from `started` until the pane shows `present` (and not `absent`)."""
    while time.perf_counter() - started < 60:
        pane = tmux("capture-pane", "-p", "-t", session).stdout
        if present in pane and not (absent and absent in pane):
            return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"{present!r} never appeared")


def start_and_quit(
    command: list[str], env: dict[str, str], content: str, ready: str
) -> tuple[float, float, float]:
    """Seconds to the first frame listing the labs, to the first lab's `content`, and from
    `q` to the shell's prompt.

    `q` is pressed once the app shows `ready` (ours: its sandbox is up), so quitting has
    the helpers it started to stop.
    """
    session = f"run-{uuid.uuid4().hex[:8]}"
    done = f"EXITED-{session}"
    line = " ".join(shlex.quote(part) for part in command) + f"; echo {done}; sleep 60"
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "env",
         *[f"{k}={v}" for k, v in env.items()], "sh", "-c", line, check=True)  # fmt: skip
    try:
        first_frame = _wait(session, started, "Cleanup")
        shown = _wait(session, started, content)
        _wait(session, started, ready)
        time.sleep(0.5)
        pressed = time.perf_counter()
        tmux("send-keys", "-t", session, "q")
        return first_frame, shown, _wait(session, pressed, done)
    finally:
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
                ours.append(start_and_quit([tui, "--sandbox"], env,
                                           "Welcome to the cat-picture workshop",
                                           "Mode: sandbox (offline)"))  # fmt: skip
                bare.append(start_and_quit([sys.executable, "-c", BARE], env, "Cleanup", "Cleanup"))
        finally:
            tmux("kill-server")

    def median(runs: list[tuple[float, float, float]], which: int) -> float:
        return statistics.median(run[which] for run in runs)

    result = {
        "runs": args.runs,
        "dlworkshop_tui_median_s": round(median(ours, 0), 2),
        "bare_textual_median_s": round(median(bare, 0), 2),
        "ratio": round(median(ours, 0) / median(bare, 0), 2),
        # The Overview's guide and panels, composed just after the first frame.
        "first_lab_shown_median_s": round(median(ours, 1), 2),
        # From q (the app connected, its sandbox running) to the shell's prompt.
        "quit_dlworkshop_tui_median_s": round(median(ours, 2), 2),
        "quit_bare_textual_median_s": round(median(bare, 2), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
