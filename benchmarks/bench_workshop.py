"""The whole sandbox workshop, headless, and where its time goes (target: <= 120 s).

Runs `dlworkshop --sandbox --json workshop` from a fresh home (base image cached, as the
issue asks) and times each lab, and inside each lab its actions and its checkpoints,
from the arrival of each event line.
Run: .venv/bin/python benchmarks/bench_workshop.py [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TARGET = 120.0
# Inside each lab, the event types of its long actions (spans from first to last arrival).
PHASES = {
    "Lab 1": {"stack deploy": ("stack_plan", "resource_event", "stack_done",
                               "container_instances")},
    "Lab 2": {"image build": ("build_step", "build_line", "build_done"),
              "image push": ("push_layer", "push_done")},
    "Lab 3": {"task definition + tasks": ("task_definition_ready", "task_state", "tasks_ready"),
              "tunnel + logs": ("tunnel_open", "log")},
    "Cleanup": {"stack delete": ("stack_plan", "resource_event", "stack_deleted"),
                "cleanup steps + verification": ("cleanup_step", "cleanup_summary")},
}  # fmt: skip


def one_run() -> dict:
    home = tempfile.mkdtemp(prefix="bench-workshop-")
    env = {**os.environ, "DLWORKSHOP_HOME": home, "AWS_EC2_METADATA_DISABLED": "true"}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "dlworkshop", "--sandbox", "--json",
                             "workshop"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    labs: list[tuple[str, float]] = []
    spans: dict[str, list[float]] = {}
    checks = 0.0
    summary: dict = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.monotonic() - start
        event = json.loads(line)
        kind = event["type"]
        if kind == "lab_started":
            labs.append((event["title"], now))
        elif kind == "checkpoint_result":
            checks += event["seconds"]
        elif kind == "summary":
            summary = event
        lab = labs[-1][0].split(" · ")[0] if labs else ""
        for phase, types in PHASES.get(lab, {}).items():
            if kind in types:
                spans.setdefault(f"{lab}: {phase}", [now, now])[1] = now
    proc.wait()
    total = time.monotonic() - start
    per_lab = [(title, (labs[i + 1][1] if i + 1 < len(labs) else total) - at)
               for i, (title, at) in enumerate(labs)]  # fmt: skip
    first = labs[0][1] if labs else total
    return {"total": total, "exit": proc.returncode, "summary": summary, "per_lab": per_lab,
            "before_labs": first, "checks": checks,
            "phases": {k: v[1] - v[0] for k, v in spans.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.runs)]
    for n, r in enumerate(runs, 1):
        s = r["summary"]
        passed = sum(c["passed"] for c in s.get("checkpoints", []))
        print(f"\nrun {n}: {r['total']:.1f} s (exit {r['exit']}), {passed} of "
              f"{len(s.get('checkpoints', []))} checkpoints passed, leftover "
              f"{s.get('leftover')}")
        print(f"  {'before the first lab (sandbox start, imports)':<46} {r['before_labs']:6.1f} s")
        for title, seconds in r["per_lab"]:
            print(f"  {title:<46} {seconds:6.1f} s")
        print("  of which:")
        for phase, seconds in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
            print(f"    {phase:<44} {seconds:6.1f} s")
        print(f"    {'all checkpoints (real checks)':<44} {r['checks']:6.1f} s")
    worst = max(r["total"] for r in runs)
    print(f"\nslowest run {worst:.1f} s against the target {TARGET:.0f} s: "
          f"{'met' if worst <= TARGET else 'NOT met'} (ratio {worst / TARGET:.2f})")


if __name__ == "__main__":
    main()
