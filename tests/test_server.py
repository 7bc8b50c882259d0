"""`dlworkshop serve` over real HTTP: TorchServe API, batching, and bad input never 5xx."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MODELS, PHOTOS, needs_models, needs_photos
from test_preprocess import huge_png

from dlworkshop.processes import free_port

pytestmark = [needs_models, needs_photos]
MODEL = "mobilenetv2-imagenet"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server process: 1 MB body limit, batches of up to 8 within 50 ms."""
    port = free_port()
    env = dict(
        os.environ,
        DLWORKSHOP_MODEL_MIRROR=str(MODELS),
        XDG_CACHE_HOME=str(tmp_path_factory.mktemp("serve-cache")),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlworkshop",
            "serve",
            "--port",
            str(port),
            "--max-body-mb",
            "1",
            "--batch-size",
            "8",
            "--max-batch-delay",
            "50",
            "--log-level",
            "warning",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx.get(f"{base}/ping", timeout=1).json() == {"status": "Healthy"}:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(15)


def chelsea() -> bytes:
    return (PHOTOS / "skimage_chelsea.png").read_bytes()


def assert_chelsea_is_a_cat(resp: httpx.Response) -> None:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["is_cat"] is True and body["cat_probability"] > 0.9
    assert body["model"] == MODEL and len(body["top_k"]) == 5 and body["latency_ms"] > 0


def test_ping_and_models(server: str) -> None:
    assert httpx.get(f"{server}/ping").json() == {"status": "Healthy"}
    assert httpx.get(f"{server}/models").json() == {
        "models": [{"modelName": MODEL, "modelUrl": f"{MODEL}.mar"}]
    }
    (detail,) = httpx.get(f"{server}/models/{MODEL}").json()
    assert detail["modelName"] == MODEL and detail["batchSize"] == 8
    assert httpx.get(f"{server}/openapi.json").json()["openapi"].startswith("3.")


def test_raw_body_and_multipart_both_work(server: str) -> None:
    url = f"{server}/predictions/{MODEL}"
    assert_chelsea_is_a_cat(httpx.post(url, content=chelsea()))
    assert_chelsea_is_a_cat(httpx.post(url, files={"data": ("c.png", chelsea(), "image/png")}))
    dogs = httpx.post(url, content=(PHOTOS / "coral/pets.jpg").read_bytes()).json()
    assert dogs["is_cat"] is False


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"content": b""}, 400, "empty"),
        ({"content": b"Dear server, this is a cat. Regards."}, 400, "not an image"),
        ({"content": (PHOTOS / "coral/cat_720p.jpg").read_bytes()[:4000]}, 400, "truncated"),
        ({"content": huge_png()}, 400, "megapixels"),
        ({"content": b"\xff" * (2 * 1024 * 1024)}, 413, "larger than 1 MB"),
        ({"files": {"other": ("x", b"123")}}, 400, '"data" field'),
    ],
)
def test_bad_input_gets_a_4xx_and_the_server_keeps_serving(server, kwargs, status, message):
    resp = httpx.post(f"{server}/predictions/{MODEL}", **kwargs)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]
    assert_chelsea_is_a_cat(httpx.post(f"{server}/predictions/{MODEL}", content=chelsea()))


def test_unknown_model_is_404(server: str) -> None:
    resp = httpx.post(f"{server}/predictions/dogfinder", content=chelsea())
    assert resp.status_code == 404 and resp.json()["type"] == "ModelNotFoundException"
    assert httpx.get(f"{server}/models/dogfinder").status_code == 404


def test_concurrent_requests_share_forward_passes(server: str) -> None:
    def counters() -> tuple[int, int]:
        (detail,) = httpx.get(f"{server}/models/{MODEL}").json()
        return detail["batchesRun"], detail["imagesClassified"]

    batches_before, images_before = counters()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(client.post(f"{server}/predictions/{MODEL}", content=chelsea())
                  for _ in range(16))
            )  # fmt: skip

    for resp in asyncio.run(burst()):
        assert_chelsea_is_a_cat(resp)
    batches_after, images_after = counters()
    assert images_after - images_before == 16
    assert batches_after - batches_before < 16  # some requests were batched together


@pytest.mark.skipif(
    shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None,
    reason="schemathesis is not installed",
)
def test_schemathesis_finds_no_server_errors(server: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    out = subprocess.run(
        [
            str(st),
            "run",
            f"{server}/openapi.json",
            "--checks",
            "all",
            # Any bytes are schema-valid, but only images are acceptable: not a contract break.
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "40",
            "--generation-deterministic",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-4000:]
    assert_chelsea_is_a_cat(httpx.post(f"{server}/predictions/{MODEL}", content=chelsea()))
