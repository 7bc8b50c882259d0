"""`dlworkshop serve` against MXNet Model Server 1.0.8's best setups and the hardware's ceiling.

Set up once: benchmarks/setup-mms.sh (and `apt-get install wrk`). Run:
    .venv/bin/python benchmarks/bench_mms.py [--seconds 20] [--json FILE]

All in one run on this machine, one server at a time, wrk's closed loop (C, a few percent
of a core) posting skimage_chelsea.png at concurrency 1, 8 and 32:
- `dlworkshop serve` with its defaults (one worker per core, batch 1, fused graph);
- MMS with two workers (one per core, as MMS's best setup here), with and without
  batching (8 within 5 ms), its handler preparing images with dlworkshop's own code and
  running (a) the graph as converted and (b) the same fused graph;
- the ceiling: two processes decoding and running the fused model with no HTTP at all.
The best MMS row per concurrency is the one compared with. The host's speed drifts over
minutes, so ours and the ceiling run both first and last, and their means are used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from ceiling import images_per_second
from common import MODELS, PHOTOS, ROOT, free_port, wait_healthy, wrk

MODEL = "mobilenetv2-imagenet"
LEVELS = (1, 8, 32)
MMS_VENV = ROOT / "benchmarks" / ".venv-mms"
MMS_SETUPS = (  # (label, batch size, fused graph in the handler)
    ("MMS 2 workers, no batching", 1, False),
    ("MMS 2 workers, batch 8", 8, False),
    ("MMS 2 workers, no batching, fused graph", 1, True),
    ("MMS 2 workers, batch 8, fused graph", 8, True),
)


def build_mar(work: Path) -> Path:
    """Pack the converted model and the handler into a .mar with model-archiver."""
    from dlworkshop.classifier import model

    prefix = model.prepare(model.registry.get(MODEL))
    src = work / "model"
    src.mkdir()
    for name in ("model-symbol.json", "model-0000.params", "imagenet_labels.txt"):
        shutil.copy(prefix.parent / name, src / name)
    shutil.copy(Path(__file__).with_name("mms_handler.py"), src)
    store = work / "store"
    store.mkdir()
    subprocess.run(
        [str(MMS_VENV / "bin" / "model-archiver"), "--model-name", MODEL, "--model-path",
         str(src), "--handler", "mms_handler:handle", "--runtime", "python3",
         "--export-path", str(store), "-f"],
        check=True,
    )  # fmt: skip
    return store


def _mms_env(fused: bool) -> dict[str, str]:
    return dict(os.environ, PATH=f"{MMS_VENV / 'bin'}:{os.environ['PATH']}",
                OMP_NUM_THREADS="1", DLWORKSHOP_BENCH_FUSED="1" if fused else "0")  # fmt: skip


def start_mms(work: Path, store: Path, batch: int, fused: bool) -> tuple[str, int]:
    """Start MMS with two workers; (inference URL, the Java front's PID)."""
    inference, management = free_port(below=32768), free_port(below=32768)
    config = work / "config.properties"
    config.write_text(
        f"inference_address=http://127.0.0.1:{inference}\n"
        f"management_address=http://127.0.0.1:{management}\n"
        "default_workers_per_model=2\n"
    )
    subprocess.run(
        [str(MMS_VENV / "bin" / "mxnet-model-server"), "--start", "--mms-config", str(config),
         "--model-store", str(store)],
        check=True, env=_mms_env(fused), cwd=work, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    resp = None
    for _ in range(240):
        try:
            resp = httpx.post(
                f"http://127.0.0.1:{management}/models",
                params={"url": f"{MODEL}.mar", "batch_size": batch, "max_batch_delay": 5,
                        "initial_workers": 2, "synchronous": "true"},
                timeout=300,
            )  # fmt: skip
            break
        except httpx.HTTPError:
            time.sleep(0.5)
    if resp is None or resp.status_code != 200:
        sys.exit(f"MMS did not register the model: {resp.text if resp else 'no answer'}")
    java = subprocess.run(["pgrep", "-f", "com.amazonaws.ml.mms.ModelServer"],
                          capture_output=True, text=True).stdout.split()  # fmt: skip
    return f"http://127.0.0.1:{inference}", int(java[0])


def stop_mms() -> None:
    subprocess.run([str(MMS_VENV / "bin" / "mxnet-model-server"), "--stop"],
                   env=_mms_env(False), stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    time.sleep(2)


def measure(url: str, body: Path, pid: int, seconds: int, label: str) -> dict:
    """One server at the three concurrencies."""
    rows = {}
    wrk(url, body, 8, 3, pid)  # warm-up: connections, caches, the JIT of MMS's front
    for level in LEVELS:
        load = wrk(url, body, level, seconds, pid)
        rows[level] = {"images_per_s": round(load.per_second, 1), "p50_ms": round(load.p50_ms, 1),
                       "p99_ms": round(load.p99_ms, 1), "errors": load.errors,
                       "cores_busy": load.cpu_cores}  # fmt: skip
        print(json.dumps({"server": label, "concurrency": level, **rows[level]}), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="seconds per point (20)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    if not (MMS_VENV / "bin" / "mxnet-model-server").exists():
        sys.exit("Run benchmarks/setup-mms.sh first.")
    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    photo = PHOTOS / "skimage_chelsea.png"
    body = photo.read_bytes()
    # The host's speed drifts over minutes: ours and the ceiling are measured both before
    # and after the MMS setups, and their means compared with them.
    ceilings = [images_per_second(body, 2, args.seconds, decode=True)]
    servers: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = build_mar(work)
        ours = [measure_ours(photo, args.seconds)]
        for label, batch, fused in MMS_SETUPS:
            try:
                url, java = start_mms(work, store, batch, fused)
                servers[label] = measure(f"{url}/predictions/{MODEL}", photo, java,
                                         args.seconds, label)  # fmt: skip
            finally:
                stop_mms()
        ours.append(measure_ours(photo, args.seconds))
    ceilings.append(images_per_second(body, 2, args.seconds, decode=True))
    servers = {"dlworkshop serve (defaults)": mean_rows(ours), **servers}
    ceiling = sum(ceilings) / len(ceilings)
    forward = images_per_second(body, 2, args.seconds, decode=False)
    print(json.dumps({"ceiling_decode_and_forward_2x1": [round(c, 1) for c in ceilings],
                      "ceiling_forward_only_2x1": round(forward, 1)}), flush=True)  # fmt: skip
    report(servers, ceiling, forward, args.json)


def measure_ours(photo: Path, seconds: int) -> dict:
    """`dlworkshop serve` with its defaults at the three concurrencies."""
    port = free_port()
    ours = subprocess.Popen(
        [sys.executable, "-m", "dlworkshop", "serve", "--port", str(port), "--model", MODEL,
         "--log-level", "warning"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_healthy(f"http://127.0.0.1:{port}/ping", ours)
        return measure(f"http://127.0.0.1:{port}/predictions/{MODEL}", photo, ours.pid,
                       seconds, "dlworkshop serve (defaults)")  # fmt: skip
    finally:
        ours.terminate()
        ours.wait(30)


def mean_rows(runs: list[dict]) -> dict:
    """Per concurrency, the mean of each number over the runs (errors summed)."""
    return {level: {key: round(sum(r[level][key] for r in runs) / len(runs), 2)
                    if key != "errors" else sum(r[level][key] for r in runs)
                    for key in runs[0][level]}
            for level in LEVELS}  # fmt: skip


def report(servers: dict[str, dict], ceiling: float, forward: float, path: str | None) -> None:
    """The table, the best MMS setup per concurrency, and the ratios."""
    ours = servers.pop("dlworkshop serve (defaults)")
    print("\n| server | " + " | ".join(f"c={c} img/s (p99 ms, cores)" for c in LEVELS) + " |")
    print("|---|" + "---:|" * len(LEVELS))
    for label, rows in [("dlworkshop serve (defaults)", ours), *servers.items()]:
        cells = [f"{rows[c]['images_per_s']} ({rows[c]['p99_ms']:.0f}, {rows[c]['cores_busy']})"
                 for c in LEVELS]  # fmt: skip
        print(f"| {label} | " + " | ".join(cells) + " |")
    summary = {"ceiling_decode_and_forward": round(ceiling, 1),
               "ceiling_forward_only": round(forward, 1), "levels": []}  # fmt: skip
    print(f"\nCeiling (2 processes x 1 thread, no HTTP): decode+forward {ceiling:.1f} img/s, "
          f"forward only {forward:.1f} img/s\n")  # fmt: skip
    print("| c | ours img/s | best MMS (setup) img/s | ours / best MMS | ours / ceiling "
          "| ours p99 | best MMS p99 at c (setup) | errors |")
    print("|---:|---:|---|---:|---:|---:|---|---:|")
    for c in LEVELS:
        best = max(servers, key=lambda k: servers[k][c]["images_per_s"])
        best_p99 = min(servers, key=lambda k: servers[k][c]["p99_ms"])
        mine = ours[c]
        errors = mine["errors"] + sum(rows[c]["errors"] for rows in servers.values())
        theirs = servers[best][c]["images_per_s"]
        level = {"concurrency": c, "ours": mine, "best_mms": best,
                 "best_mms_images_per_s": theirs,
                 "ours_vs_best_mms": round(mine["images_per_s"] / theirs, 2),
                 "ours_vs_ceiling": round(mine["images_per_s"] / ceiling, 2),
                 "best_mms_p99_ms": servers[best_p99][c]["p99_ms"], "errors": errors}  # fmt: skip
        summary["levels"].append(level)
        print(f"| {c} | {mine['images_per_s']} | {servers[best][c]['images_per_s']} ({best}) | "
              f"{level['ours_vs_best_mms']} | {level['ours_vs_ceiling']} | {mine['p99_ms']:.0f} | "
              f"{servers[best_p99][c]['p99_ms']:.0f} ({best_p99}) | {errors} |")  # fmt: skip
    print(json.dumps(summary))
    if path:
        Path(path).write_text(json.dumps({"servers": {"ours": ours, **servers}, **summary},
                                         indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
