"""Throughput and latency of `dlworkshop serve` against a raw MXNet forward loop.

Run: .venv/bin/python benchmarks/bench_server.py [--requests 240]
Everything is measured in this one run, on this machine, and reported as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from common import MODELS, closed_loop, free_port, photos, wait_healthy

MODEL = "mobilenetv2-imagenet"
LEVELS = (1, 8, 32)


def raw_mxnet(images: list[bytes], batch: int, passes: int) -> tuple[float, float]:
    """Images/s of the bare forward pass at this batch size, without and with decoding."""
    from dlworkshop.classifier import model

    clf = model.load(MODEL)
    arrays = [clf.preprocess(d) for d in images]
    stacked = np.stack([arrays[i % len(arrays)] for i in range(batch)])
    clf.probabilities(stacked)  # warm-up: MXNet allocates on the first pass
    started = time.perf_counter()
    for _ in range(passes):
        clf.probabilities(stacked)
    forward = batch * passes / (time.perf_counter() - started)
    started = time.perf_counter()
    for p in range(passes):
        chunk = [images[(p * batch + i) % len(images)] for i in range(batch)]
        clf.probabilities(np.stack([clf.preprocess(d) for d in chunk]))
    with_decode = batch * passes / (time.perf_counter() - started)
    return forward, with_decode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-batch-delay", type=float, default=5.0)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    images = photos()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dlworkshop", "serve", "--port", str(port), "--model", MODEL,
         "--batch-size", str(args.batch_size), "--max-batch-delay", str(args.max_batch_delay),
         "--log-level", "warning"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    results = {"machine": {"cpus": os.cpu_count()}, "levels": []}
    try:
        wait_healthy(f"http://127.0.0.1:{port}/ping", server)
        url = f"http://127.0.0.1:{port}/predictions/{MODEL}"
        for level in LEVELS:
            load = closed_loop(url, images, level, args.requests)
            passes = max(4, args.requests // max(level, 1) // 2)
            forward, with_decode = raw_mxnet(images, level, passes)
            row = {
                "concurrency": level,
                "server_images_per_s": round(load.per_second, 1),
                "p50_ms": round(load.p50, 1),
                "p99_ms": round(load.percentile(0.99), 1),
                "errors": load.errors,
                "raw_forward_images_per_s": round(forward, 1),
                "raw_decode_and_forward_images_per_s": round(with_decode, 1),
                "server_vs_raw_forward": round(load.per_second / forward, 2),
                "server_vs_raw_decode_and_forward": round(load.per_second / with_decode, 2),
            }
            results["levels"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait(30)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
