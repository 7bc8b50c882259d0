"""The MXNet image: full build, no-change rebuild, one-line-change rebuild, and push, in one run.

Builds a scratch copy of this checkout (so the one-line change touches nothing of yours)
through `dlworkshop --json image build` on the engine in DOCKER_HOST, then pushes it to
the sandbox's ECR (a fresh stack's repository) twice. Reports times, sizes and ratios.
Run: DOCKER_HOST=... .venv/bin/python benchmarks/bench_image.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv*", "__pycache__", "*.egg-info", ".ci")


def run(copy: Path, home: Path, *args: str) -> tuple[float, dict]:
    """One CLI command from the copy's code; (seconds, last event)."""
    env = dict(os.environ, PYTHONPATH=str(copy / "src"), DLWORKSHOP_HOME=str(home))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "dlworkshop", "--json", *args],
                         capture_output=True, text=True, env=env, cwd=copy)  # fmt: skip
    seconds = time.monotonic() - started
    last = json.loads(out.stdout.strip().splitlines()[-1])
    if out.returncode:
        sys.exit(f"{' '.join(args)} failed: {last}\n{out.stderr[-2000:]}")
    return seconds, last


def main() -> None:
    if not os.environ.get("DOCKER_HOST"):
        sys.exit("Set DOCKER_HOST (scripts/sandbox-docker.sh start prints it).")
    with tempfile.TemporaryDirectory() as tmp:
        copy, home = Path(tmp) / "checkout", Path(tmp) / "home"
        shutil.copytree(ROOT, copy, ignore=IGNORE)
        tag = "--tag", "dlworkshop/mxnet:bench"
        rows = []
        full, done = run(copy, home, "image", "build", *tag, "--no-cache")
        rows.append(("build with no cache", full, done["size_mb"]))
        same, done = run(copy, home, "image", "build", *tag)
        rows.append(("rebuild, nothing changed", same, done["size_mb"]))
        module = copy / "src/dlworkshop/classifier/model.py"
        module.write_text(module.read_text() + "\n# one-line change for the benchmark\n")
        edit, done = run(copy, home, "image", "build", *tag)
        rows.append(("rebuild after a one-line change in src/", edit, done["size_mb"]))
        run(copy, home, "--sandbox", "stack", "deploy", "--yes")
        push = "image", "push", "--source", "dlworkshop/mxnet:bench"
        first, done = run(copy, home, "--sandbox", *push)
        again, _ = run(copy, home, "--sandbox", *push)
        run(copy, home, "sandbox", "stop")
    print("| | time | image size |\n|---|---:|---:|")
    for name, seconds, size in rows:
        print(f"| {name} | {seconds:.1f} s | {size:.0f} MB |")
    print(f"| push to the sandbox's ECR (empty repository) | {first:.1f} s | |")
    print(f"| push again (every layer already there) | {again:.1f} s | |")
    print(f"| ratio: one-line rebuild / full build | {edit / full:.2f} | |")
    print(f"| ratio: second push / first push | {again / first:.2f} | |")
    print(f"\ndigest {done['digest']}")


if __name__ == "__main__":
    main()
