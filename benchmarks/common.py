"""Shared pieces of the benchmarks: photos, a closed-loop HTTP load, percentiles."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = Path(os.environ.get("DLWORKSHOP_MODEL_MIRROR") or SHARED / "models")
PHOTOS = SHARED / "photos"
# MMS reads a body without this header as a form; both servers take raw bytes with it.
RAW = {"content-type": "application/octet-stream"}


def photos() -> list[bytes]:
    """The shared photos' bytes (22 real photos, 70 KB to 1.2 MB each)."""
    paths = sorted(p for p in PHOTOS.rglob("*") if p.suffix in (".png", ".jpg", ".bmp"))
    if not paths:
        sys.exit(f"No photos at {PHOTOS}: the benchmarks need ../shared beside the checkout.")
    return [p.read_bytes() for p in paths]


def free_port(below: int | None = None) -> int:
    """A free loopback port; MMS 1.0.8 refuses ports above 32767, hence `below`."""
    if below is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for port in random.sample(range(20000, below), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {below}")


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server at {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"{url} did not become healthy in {timeout:.0f} s")


@dataclass
class Load:
    """The outcome of one closed-loop load run."""

    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(q * len(values)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)


def closed_loop(
    url: str, images: list[bytes], concurrency: int, requests: int, field: str | None = None
) -> Load:
    """`concurrency` clients each send the next photo as soon as their last one answers,
    until `requests` in all have been answered (bounded in count; loopback only)."""

    async def run() -> Load:
        latencies: list[float] = []
        errors = 0
        counter = iter(range(requests))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def worker() -> None:
                nonlocal errors
                for i in counter:
                    body = images[i % len(images)]
                    started = time.perf_counter()
                    if field:
                        resp = await client.post(url, files={field: ("photo", body)})
                    else:
                        resp = await client.post(url, content=body, headers=RAW)
                    latencies.append((time.perf_counter() - started) * 1000)
                    errors += resp.status_code != 200

            # Warm up connections and caches before timing.
            await asyncio.gather(
                *(client.post(url, content=images[0], headers=RAW) for _ in range(concurrency))
            )
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return Load(concurrency, requests, time.perf_counter() - started, latencies, errors)

    return asyncio.run(run())


@dataclass
class WrkLoad:
    """One wrk run: closed loop, `connections` clients, fixed duration."""

    connections: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    cpu_cores: float = 0.0  # the server's processes' CPU time over the run's wall time

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants, alive now."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


def wrk(url: str, body: Path, connections: int, seconds: int, server_pid: int) -> WrkLoad:
    """Load `url` with wrk (C, a few % of a core) and measure the server's CPU meanwhile."""
    import json
    import shutil

    if not shutil.which("wrk"):
        sys.exit("The benchmarks need wrk (apt-get install wrk).")
    env = dict(os.environ, WRK_BODY=str(body))
    cpu_before, began = cpu_seconds(server_pid), time.perf_counter()
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
         "-s", str(WRK_SCRIPT), url],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    cores = (cpu_seconds(server_pid) - cpu_before) / wall
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return WrkLoad(connections, data["requests"], data["duration_us"] / 1e6, data["errors"],
                   data["p50_us"] / 1000, data["p99_us"] / 1000, round(cores, 2))  # fmt: skip
