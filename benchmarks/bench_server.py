"""`dlworkshop serve` against what the hardware allows, in one run.

Run: .venv/bin/python benchmarks/bench_server.py [--seconds 15] [--rounds 2] [--json FILE]

wrk posts skimage_chelsea.png at concurrency 1, 8 and 32 to the server with its
defaults; the ceilings are the same fused model in one and in two processes of one
OpenMP thread each, with no HTTP, forward passes alone and with decoding. The machine's
speed drifts over minutes here (a shared host), so each server run sits between two
measurements of the two-process decode+forward ceiling and is compared with their mean.

Why the old "raw forward" loop read 41.5 img/s one day and 18.0 another: it ran in the
benchmark's own process with whatever OMP_NUM_THREADS the shell had, right after the
server's load, with one warm-up pass. Measured here on the graph of that time (batch 1):
25 img/s with one OpenMP thread (MXNet's default here), 43 with OMP_NUM_THREADS=2 (the
41.5), and lower still while the just-stopped server's processes were winding down and
before oneDNN had picked its kernels (the 18.0). MXNET_SUBGRAPH_BACKEND made no
difference to Gluon blocks. The ceilings now run in fresh processes with one thread set
explicitly, ten warm-up passes, and only after the server has exited.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ceiling import images_per_second
from common import MODELS, PHOTOS, free_port, wait_healthy, wrk

MODEL = "mobilenetv2-imagenet"
LEVELS = (1, 8, 32)


def load_server(port: int, photo: Path, seconds: int) -> list[dict]:
    """Start the server with its defaults, load it at each concurrency, stop it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "dlworkshop", "serve", "--port", str(port), "--model", MODEL,
         "--log-level", "warning"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    rows = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}/ping", server)
        url = f"http://127.0.0.1:{port}/predictions/{MODEL}"
        wrk(url, photo, 8, 3, server.pid)  # warm-up
        for level in LEVELS:
            load = wrk(url, photo, level, seconds, server.pid)
            rows.append({"concurrency": level, "images_per_s": round(load.per_second, 1),
                         "p50_ms": round(load.p50_ms, 1), "p99_ms": round(load.p99_ms, 1),
                         "errors": load.errors, "cores_busy": load.cpu_cores})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    return rows


def summarise(runs: list[dict], brackets: list[float]) -> dict:
    """One concurrency's means over the server runs, and each run's ratio to the mean of
    the two ceilings around it."""
    ratios = [run["images_per_s"] / ((brackets[i] + brackets[i + 1]) / 2)
              for i, run in enumerate(runs)]  # fmt: skip
    row = {key: round(sum(run[key] for run in runs) / len(runs), 2)
           for key in ("images_per_s", "p50_ms", "p99_ms", "cores_busy")}  # fmt: skip
    row.update(concurrency=runs[0]["concurrency"], errors=sum(r["errors"] for r in runs),
               ratios=[round(x, 3) for x in ratios], ratio=round(sum(ratios) / len(ratios), 3))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2,
                        help="server runs, each between two ceiling measurements")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    photo = PHOTOS / "skimage_chelsea.png"
    body = photo.read_bytes()

    def ceiling() -> float:
        value = round(images_per_second(body, 2, args.seconds, decode=True), 1)
        print(json.dumps({"decode+forward, 2 processes": value}), flush=True)
        return value

    # The machine's speed drifts over minutes (a shared host): each server run is
    # bracketed by ceiling measurements and compared with their mean.
    brackets, rounds = [ceiling()], []
    for _ in range(args.rounds):
        rounds.append(load_server(free_port(), photo, args.seconds))
        brackets.append(ceiling())
    ceilings = {f"{kind}, {n} process{'es' if n > 1 else ''}":
                round(images_per_second(body, n, args.seconds, decode=decode), 1)
                for n, kind, decode in ((1, "forward", False), (1, "decode+forward", True),
                                        (2, "forward", False))}  # fmt: skip
    ceilings["decode+forward, 2 processes"] = round(sum(brackets) / len(brackets), 1)
    print(json.dumps(ceilings), flush=True)
    rows = [summarise([r[index] for r in rounds], brackets) for index in range(len(LEVELS))]
    print(f"\nMeans of {args.rounds} server runs, each against the mean of the ceilings "
          f"measured just before and after it ({', '.join(map(str, brackets))} img/s).")
    print("\n| concurrency | images/s | p50 ms | p99 ms | cores busy | / decode+forward ceiling "
          "(each run) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        each = ", ".join(f"{x:.2f}" for x in r["ratios"])
        print(f"| {r['concurrency']} | {r['images_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['cores_busy']} | {r['ratio']:.2f} ({each}) |")  # fmt: skip
    print("\n| ceiling (fused, 1 OpenMP thread per process, no HTTP) | images/s |")
    print("|---|---:|")
    for name, value in ceilings.items():
        print(f"| {name} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"levels": rows, "ceilings": ceilings,
                                               "brackets": brackets}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
