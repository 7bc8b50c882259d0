"""Training speed against MXNet's own train_mnist.py (the original workshop's script).

Same data (Fashion-MNIST from Debian's dataset-fashion-mnist), same networks (the
reference's MLP and LeNet), same batch (64 in all), one run. The reference runs in each
way it can use this machine: one process with one OpenMP thread, with two, and two
worker processes of one thread sharing the batch (32 each) through MXNet's own
`dist_sync` parameter server on loopback (a scheduler and a server beside them, as
MXNet's launcher starts them); its best counts, not a handicapped setup. Ours runs with
its defaults (the MLP in one process, LeNet in one process per core, sharing each
batch). Speeds are the median of each program's own steady-state reports (the
reference's Speedometer every 100 batches, summed over its workers; our progress
events), the first epoch's warm-up excluded where there are more.
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


def _scratch() -> Path:
    """A folder whose data/ holds the four files, where train_mnist.py looks for them."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-train-ref-"))
    (scratch / "data").mkdir()
    for name in FILES:
        (scratch / "data" / name).symlink_to(DATA / name)
    return scratch


def _reference_argv(network: str, epochs: int, batch: int, *extra: str) -> list[str]:
    return [sys.executable, str(REFERENCE / "train_mnist.py"), "--network", network,
            "--num-epochs", str(epochs), "--batch-size", str(batch), "--lr-factor", "1",
            *extra]  # fmt: skip


def _parsed(log: str) -> tuple[float, float]:
    """(median steady samples/s, last validation accuracy) from one reference log."""
    speeds = [(int(e), float(s)) for e, s in
              re.findall(r"Epoch\[(\d+)\] Batch \[[\d-]+\]\s+Speed: ([\d.]+) samples/sec", log)]
    steady = [s for e, s in speeds if e > 0] or [s for _, s in speeds]
    accuracy = re.findall(r"Validation-accuracy=([\d.]+)", log)
    if not steady:
        raise SystemExit(f"the reference printed no speed:\n{log[-3000:]}")
    return statistics.median(steady), float(accuracy[-1]) if accuracy else float("nan")


def reference(network: str, epochs: int, threads: int) -> tuple[float, float]:
    """(median samples/s, last validation accuracy) of train_mnist.py in one process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REFERENCE)}
    out = subprocess.run(_reference_argv(network, epochs, 64), cwd=_scratch(), env=env,
                         capture_output=True, text=True, timeout=3600)  # fmt: skip
    return _parsed(out.stdout + out.stderr)


def reference_shared(network: str, epochs: int, workers: int = 2) -> tuple[float, float]:
    """train_mnist.py as `workers` processes sharing the batch through MXNet's dist_sync
    parameter server on loopback: (their summed samples/s, the validation accuracy)."""
    from common import free_port

    scratch = _scratch()
    base = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REFERENCE),
            "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": str(free_port()),
            "DMLC_NODE_HOST": "127.0.0.1", "DMLC_NUM_SERVER": "1",
            "DMLC_NUM_WORKER": str(workers)}  # fmt: skip
    # Importing mxnet with DMLC_ROLE set to scheduler or server runs that role.
    helpers = [subprocess.Popen([sys.executable, "-c", "import mxnet"], cwd=scratch,
                                env={**base, "DMLC_ROLE": role}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
               for role in ("scheduler", "server")]  # fmt: skip
    argv = _reference_argv(network, epochs, 64 // workers, "--kv-store", "dist_sync")
    procs = [subprocess.Popen(argv, cwd=scratch, env={**base, "DMLC_ROLE": "worker"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(workers)]  # fmt: skip
    try:
        logs = [p.communicate(timeout=3600)[0] for p in procs]
        for helper in helpers:
            helper.wait(60)
    finally:
        for proc in helpers + procs:
            if proc.poll() is None:
                proc.kill()
    results = [_parsed(log) for log in logs]
    # The server holds the one set of weights: every worker validates the same model.
    return sum(speed for speed, _ in results), results[0][1]


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
    setups = {"1 thread": lambda net: reference(net, args.epochs, 1),
              "2 threads": lambda net: reference(net, args.epochs, 2),
              "2 processes": lambda net: reference_shared(net, args.epochs)}  # fmt: skip
    for network in ("mlp", "lenet"):
        ref = {name: run(network) for name, run in setups.items()}
        print(json.dumps({"network": network, "reference": ref}), flush=True)
        best = max(ref, key=lambda name: ref[name][0])
        mine = ours(network, args.epochs)
        print(json.dumps({"network": network, "ours": mine}), flush=True)
        rows.append((network, *(ref[name][0] for name in setups), best, mine[0],
                     mine[0] / ref[best][0], mine[1], ref[best][1]))
    print(f"\n{'network':<8} {'ref 1 thr':>10} {'ref 2 thr':>10} {'ref 2 proc':>10} "
          f"{'ours':>10} {'ratio':>6} {'target':>6}  accuracy after {args.epochs} epochs "
          "(ours / ref)")  # fmt: skip
    for net, r1, r2, r3, best, mine, ratio, acc, ref_acc in rows:
        ok = "met" if ratio >= TARGETS[net] else "NOT met"
        print(f"{net:<8} {r1:>10,.0f} {r2:>10,.0f} {r3:>10,.0f} {mine:>10,.0f} {ratio:>6.2f} "
              f"{TARGETS[net]:>5.1f}x {ok}; {acc:.4f} / {ref_acc:.4f} "
              f"(reference best with {best})")
    if not args.skip_accuracy:
        speed, accuracy = ours("cnn", 5)
        print(f"\nDefault network (cnn: LeNet's shape, ReLU), 5 epochs: test accuracy "
              f"{accuracy:.4f} "
              f"(target 0.90: {'met' if accuracy >= 0.90 else 'NOT met'}), {speed:,.0f} "
              "samples/s")


if __name__ == "__main__":
    main()
