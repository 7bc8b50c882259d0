"""How fast `dlworkshop serve` refuses hostile bodies, and whether its memory grows.

Run: .venv/bin/python benchmarks/bench_hostile.py [--tries 20]
Each body is posted `tries` times; the table shows the status, the median and worst
time to the answer, and the server's memory (front and workers) before and after.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
from common import MODELS, PHOTOS, free_port, wait_healthy

MODEL = "mobilenetv2-imagenet"


def png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (1 + width * 3) * min(4, height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))  # fmt: skip


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    args = parser.parse_args()
    import os

    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "dlworkshop", "serve", "--port", str(port),
                               "--log-level", "warning"], stdin=subprocess.DEVNULL)  # fmt: skip
    bodies = {
        "64000x1 PNG (143 bytes)": png(64000, 1),
        "30000x30000 PNG bomb": png(30000, 30000),
        "25 MB body": b"\0" * (25 * 1024 * 1024),
        "20000x1 PNG (within limits)": png(20000, 1),
    }
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/ping", server)
        (detail,) = httpx.get(f"{base}/models/{MODEL}").json()
        pids = [server.pid] + [w["pid"] for w in detail["workers"]]
        url = f"{base}/predictions/{MODEL}"
        with httpx.Client(timeout=60) as client:
            client.post(url, content=(PHOTOS / "skimage_chelsea.png").read_bytes())
            before = rss_mb(pids)
            print("| body | status | median ms | worst ms |")
            print("|---|---:|---:|---:|")
            for name, body in bodies.items():
                times, codes = [], set()
                for _ in range(args.tries):
                    started = time.perf_counter()
                    resp = client.post(url, content=body,
                                       headers={"content-type": "application/octet-stream"})
                    times.append((time.perf_counter() - started) * 1000)
                    codes.add(resp.status_code)
                print(f"| {name} | {', '.join(map(str, sorted(codes)))} | "
                      f"{statistics.median(times):.1f} | {max(times):.1f} |")  # fmt: skip
            after = rss_mb(pids)
        print(f"\nServer memory (front + workers): {before:.0f} MB before, {after:.0f} MB after "
              f"{args.tries * len(bodies)} hostile requests.")  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
