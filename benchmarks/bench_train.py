"""Training speed against MXNet's own train_mnist.py (the original workshop's script).

Same data (Fashion-MNIST from Debian's dataset-fashion-mnist), same networks (the
reference's MLP and LeNet), same batch (64), one run. The reference runs with one and
with two OpenMP threads and its best counts (its best configuration, not a handicapped
one); ours runs with its defaults (MLP one thread, LeNet every core). Speeds are the
median of each program's own steady-state reports (the reference's Speedometer every
100 batches; our progress events), first epoch's warm-up excluded where there are more.
Then the accuracy target: our default network (cnn), 5 epochs, >= 0.90 test accuracy.
Run: .venv/bin/python benchmarks/bench_train.py [--epochs 2] [--skip-accuracy]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "mxnet-1.9.1-image-classification"
DATA = Path("/usr/share/datasets/fashion-mnist")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
TARGETS = {"mlp": 1.0, "lenet": 1.3}


def reference(network: str, epochs: int, threads: int) -> tuple[float, float]:
    """(median samples/s, last validation accuracy) of train_mnist.py."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-ref-"))
    (scratch / "data").mkdir()
    for name in FILES:
        (scratch / "data" / name).symlink_to(DATA / name)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REFERENCE)}
    out = subprocess.run(
        [sys.executable, str(REFERENCE / "train_mnist.py"), "--network", network,
         "--num-epochs", str(epochs), "--batch-size", "64", "--lr-factor", "1"],
        cwd=scratch, env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
    log = out.stdout + out.stderr
    speeds = [(int(e), float(s)) for e, s in
              re.findall(r"Epoch\[(\d+)\] Batch \[[\d-]+\]\s+Speed: ([\d.]+) samples/sec", log)]
    steady = [s for e, s in speeds if e > 0] or [s for _, s in speeds]
    accuracy = re.findall(r"Validation-accuracy=([\d.]+)", log)
    if not steady:
        raise SystemExit(f"the reference printed no speed:\n{log[-3000:]}")
    return statistics.median(steady), float(accuracy[-1]) if accuracy else float("nan")


def ours(network: str, epochs: int) -> tuple[float, float]:
    """(median samples/s of our progress reports, last validation accuracy)."""
    env = {**os.environ, "DLWORKSHOP_HOME": tempfile.mkdtemp(prefix="bench-train-"),
           "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="bench-train-cache-")}  # fmt: skip
    env.pop("OMP_NUM_THREADS", None)  # our own default per network
    out = subprocess.run(
        [sys.executable, "-m", "dlworkshop", "--json", "train", "--network", network,
         "--epochs", str(epochs), "--batch-size", "64"],
        env=env, capture_output=True, text=True, timeout=3600)  # fmt: skip
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    if out.returncode:
        raise SystemExit(f"dlworkshop train failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    progress = [(e["epoch"], e["samples_per_s"]) for e in events
                if e["type"] == "train_progress"]  # fmt: skip
    steady = [s for ep, s in progress if ep > 1] or [s for _, s in progress]
    epochs_done = [e for e in events if e["type"] == "epoch_done"]
    return statistics.median(steady), epochs_done[-1]["val_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    rows = []
    for network in ("mlp", "lenet"):
        ref = {t: reference(network, args.epochs, t) for t in (1, 2)}
        best_threads = max(ref, key=lambda t: ref[t][0])
        mine = ours(network, args.epochs)
        rows.append((network, ref[1][0], ref[2][0], best_threads, mine[0],
                     mine[0] / ref[best_threads][0], mine[1], ref[best_threads][1]))
    print(f"\n{'network':<8} {'ref 1 thr':>10} {'ref 2 thr':>10} {'ours':>10} "
          f"{'ratio':>6} {'target':>6}  accuracy after {args.epochs} epochs (ours / ref)")
    for net, r1, r2, best, mine, ratio, acc, ref_acc in rows:
        ok = "met" if ratio >= TARGETS[net] else "NOT met"
        print(f"{net:<8} {r1:>10,.0f} {r2:>10,.0f} {mine:>10,.0f} {ratio:>6.2f} "
              f"{TARGETS[net]:>5.1f}x {ok}; {acc:.4f} / {ref_acc:.4f} "
              f"(reference best with {best} thread(s))")
    if not args.skip_accuracy:
        speed, accuracy = ours("cnn", 5)
        print(f"\nDefault network (cnn: LeNet's shape, ReLU), 5 epochs: test accuracy "
              f"{accuracy:.4f} "
              f"(target 0.90: {'met' if accuracy >= 0.90 else 'NOT met'}), {speed:,.0f} "
              "samples/s")


if __name__ == "__main__":
    main()
