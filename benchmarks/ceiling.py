"""What the hardware allows: the model in N processes with no HTTP at all.

Each process runs one OpenMP thread (as the server's workers do), loads the fused
model, warms up, then loops for a fixed time: forward passes only, or decoding and
preprocessing each photo first. The total images/s is the ceiling a server can
approach; it is measured in the benchmark's own run, beside the servers.
"""

from __future__ import annotations

import multiprocessing
import os
import time

MODEL = "mobilenetv2-imagenet"


def _loop(body: bytes, seconds: float, decode: bool, fused: bool, start, out) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.pop("MXNET_SUBGRAPH_BACKEND", None)  # fusion only where asked for
    from dlworkshop.classifier import model

    clf = model.load(MODEL, fused=fused)
    array = clf.preprocess(body)[None]
    for _ in range(10):  # warm-up: MXNet allocates and oneDNN picks kernels on first passes
        clf.probabilities(clf.preprocess(body)[None] if decode else array)
    start.wait()
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        clf.probabilities(clf.preprocess(body)[None] if decode else array)
        count += 1
    out.put(count)


def images_per_second(body: bytes, processes: int, seconds: float, decode: bool,
                      fused: bool = True) -> float:  # fmt: skip
    """Total images/s of `processes` loops running side by side for `seconds`."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(processes + 1), ctx.Queue()
    procs = [ctx.Process(target=_loop, args=(body, seconds, decode, fused, start, out))
             for _ in range(processes)]  # fmt: skip
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    total = sum(out.get() for _ in procs)
    elapsed = time.perf_counter() - began
    for p in procs:
        p.join()
    return total / elapsed
