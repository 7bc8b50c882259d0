"""`dlworkshop serve` against MXNet Model Server 1.0.8 serving the same MXNet model.

Set up once: benchmarks/setup-mms.sh. Run: .venv/bin/python benchmarks/bench_mms.py
Both servers get the same photos, the same closed-loop load, one model worker, and
batches of up to 8 within 5 ms; the numbers are measured in this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from common import MODELS, ROOT, closed_loop, free_port, photos, wait_healthy

MODEL = "mobilenetv2-imagenet"
LEVELS = (1, 8, 32)
MMS_VENV = ROOT / "benchmarks" / ".venv-mms"


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


def start_mms(work: Path, store: Path, batch: int, delay: float) -> tuple[str, int]:
    inference, management = free_port(below=32768), free_port(below=32768)
    config = work / "config.properties"
    config.write_text(
        f"inference_address=http://127.0.0.1:{inference}\n"
        f"management_address=http://127.0.0.1:{management}\n"
        "default_workers_per_model=1\n"
    )
    env = dict(os.environ, PATH=f"{MMS_VENV / 'bin'}:{os.environ['PATH']}")
    subprocess.run(
        [str(MMS_VENV / "bin" / "mxnet-model-server"), "--start", "--mms-config", str(config),
         "--model-store", str(store)],
        check=True, env=env, cwd=work, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    resp = None
    for _ in range(120):
        try:
            resp = httpx.post(
                f"http://127.0.0.1:{management}/models",
                params={"url": f"{MODEL}.mar", "batch_size": batch,
                        "max_batch_delay": int(delay), "initial_workers": 1,
                        "synchronous": "true"},
                timeout=120,
            )  # fmt: skip
            break
        except httpx.HTTPError:
            import time

            time.sleep(0.5)
    if resp is None or resp.status_code != 200:
        sys.exit(f"MMS did not register the model: {resp.text if resp else 'no answer'}")
    return f"http://127.0.0.1:{inference}", management


def stop_mms() -> None:
    env = dict(os.environ, PATH=f"{MMS_VENV / 'bin'}:{os.environ['PATH']}")
    subprocess.run([str(MMS_VENV / "bin" / "mxnet-model-server"), "--stop"], env=env,
                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    if not (MMS_VENV / "bin" / "mxnet-model-server").exists():
        sys.exit("Run benchmarks/setup-mms.sh first.")
    os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    images = photos()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = build_mar(work)
        port = free_port()
        ours = subprocess.Popen(
            [sys.executable, "-m", "dlworkshop", "serve", "--port", str(port), "--model", MODEL,
             "--batch-size", "8", "--max-batch-delay", "5", "--log-level", "warning"],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            mms_url, _ = start_mms(work, store, 8, 5)
            wait_healthy(f"http://127.0.0.1:{port}/ping", ours)
            for level in LEVELS:
                # One server at a time, so they never compete for the two cores.
                a = closed_loop(f"http://127.0.0.1:{port}/predictions/{MODEL}", images, level,
                                args.requests)  # fmt: skip
                b = closed_loop(f"{mms_url}/predictions/{MODEL}", images, level, args.requests)
                row = {
                    "concurrency": level,
                    "dlworkshop_images_per_s": round(a.per_second, 1),
                    "mms_images_per_s": round(b.per_second, 1),
                    "dlworkshop_vs_mms": round(a.per_second / b.per_second, 2),
                    "dlworkshop_p50_ms": round(a.p50, 1),
                    "dlworkshop_p99_ms": round(a.percentile(0.99), 1),
                    "mms_p50_ms": round(b.p50, 1),
                    "mms_p99_ms": round(b.percentile(0.99), 1),
                    "errors": a.errors + b.errors,
                }
                results.append(row)
                print(json.dumps(row), flush=True)
        finally:
            stop_mms()
            ours.terminate()
            ours.wait(30)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
