"""`dlworkshop serve` against what the hardware allows, in one run.

Run: .venv/bin/python benchmarks/bench_server.py [--seconds 15] [--json FILE]

wrk posts skimage_chelsea.png at concurrency 1, 8 and 32 to the server with its
defaults; the ceilings are the same fused model in one and in two processes of one
OpenMP thread each, with no HTTP, forward passes alone and with decoding.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    photo = PHOTOS / "skimage_chelsea.png"
    port = free_port()
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
            load = wrk(url, photo, level, args.seconds, server.pid)
            rows.append({"concurrency": level, "images_per_s": round(load.per_second, 1),
                         "p50_ms": round(load.p50_ms, 1), "p99_ms": round(load.p99_ms, 1),
                         "errors": load.errors, "cores_busy": load.cpu_cores})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    body = photo.read_bytes()
    ceilings = {f"{kind}, {n} process{'es' if n > 1 else ''}":
                round(images_per_second(body, n, args.seconds, decode=decode), 1)
                for n in (1, 2) for kind, decode in (("forward", False),
                                                     ("decode+forward", True))}  # fmt: skip
    print(json.dumps(ceilings), flush=True)
    top = ceilings["decode+forward, 2 processes"]
    print("\n| concurrency | images/s | p50 ms | p99 ms | cores busy | / decode+forward ceiling |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['images_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['cores_busy']} | {r['images_per_s'] / top:.2f} |")  # fmt: skip
    print("\n| ceiling (fused, 1 OpenMP thread per process, no HTTP) | images/s |")
    print("|---|---:|")
    for name, value in ceilings.items():
        print(f"| {name} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"levels": rows, "ceilings": ceilings}, indent=2))


if __name__ == "__main__":
    main()
