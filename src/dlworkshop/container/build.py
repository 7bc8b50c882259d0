"""Build the MXNet image through the Docker SDK, as a stream of events."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import re
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlworkshop.container import engine as engine_mod
from dlworkshop.events import Event, Failed, Log

ROOT = Path(__file__).resolve().parents[3]  # the checkout (or the installed tree's top)
DOCKERFILE = "src/dlworkshop/container/Dockerfile"
GPU_DOCKERFILE = "src/dlworkshop/container/Dockerfile.gpu"
DEFAULT_TAG = "dlworkshop/mxnet:latest"
GPU_TAG = "dlworkshop/mxnet:gpu"
GPU_BASE = "nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu22.04"
# The tag is the recipe's version in scripts/sandbox-docker.sh: a new recipe, a new image.
SANDBOX_BASE = "dlworkshop/bookworm-python:2"
PUBLIC_BASE = "python:3.11-slim-bookworm"
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")


@dataclass(frozen=True)
class BuildStep(Event):
    """The builder started step n of m."""

    step: int
    total: int
    instruction: str

    def render_text(self) -> str:
        return f"[bold cyan]Step {self.step}/{self.total}[/] {self.instruction}"


@dataclass(frozen=True)
class BuildLine(Event):
    """A line of the build's output."""

    text: str

    def render_text(self) -> str:
        return f"[dim]{self.text}[/]"


@dataclass(frozen=True)
class BuildDone(Event):
    """The image is built."""

    image_id: str
    tag: str
    size_mb: float
    seconds: float

    def render_text(self) -> str:
        return (f"[bold green]Built[/] {self.tag} ({self.image_id[:19]}), "
                f"{self.size_mb:.0f} MB, in {self.seconds:.0f} s")  # fmt: skip


def _ca_bundle() -> bytes:
    for path in CA_BUNDLES:
        with contextlib.suppress(OSError):
            return Path(path).read_bytes()
    import certifi

    return Path(certifi.where()).read_bytes()


def context_tar(root: Path = ROOT) -> io.BytesIO:
    """The build context: the checkout less .dockerignore, plus the host's CA bundle."""
    from docker.utils.build import exclude_paths

    if not (root / "pyproject.toml").exists():
        from dlworkshop.errors import UserError

        raise UserError(f"The image is built from a checkout of dlworkshop; {root} is not one.")
    ignore = root / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel in sorted(exclude_paths(str(root), patterns, dockerfile=DOCKERFILE)):
            path = root / rel
            if path.is_file():
                tar.add(path, arcname=rel, recursive=False)
        ca = _ca_bundle()
        info = tarfile.TarInfo("host-ca.crt")
        info.size, info.mode = len(ca), 0o644
        tar.addfile(info, io.BytesIO(ca))
    buf.seek(0)
    return buf


@contextlib.contextmanager
def _mirror_for_build(mirror: str | None):
    """A model mirror the build can reach: a folder is served on loopback for the build."""
    if not mirror or mirror.startswith(("http://", "https://")):
        yield mirror or ""
        return
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=mirror)
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def default_base(client: Any) -> str:
    """The sandbox's local base image when it exists (Docker Hub is out of reach), else
    the public python:3.11-slim-bookworm."""
    from docker.errors import ImageNotFound

    try:
        client.images.get(SANDBOX_BASE)
        return SANDBOX_BASE
    except ImageNotFound:
        return PUBLIC_BASE


def build(
    client: Any,
    tag: str | None = None,
    base_image: str | None = None,
    no_cache: bool = False,
    gpu: bool = False,
) -> Iterator[Event]:
    """Build the CPU image (or, with `gpu`, the GPU one from the CPU image's model); errors
    arrive as items of the stream, and become Failed events."""
    tag = tag or (GPU_TAG if gpu else DEFAULT_TAG)
    base = base_image or (GPU_BASE if gpu else default_base(client))
    args = {"BASE_IMAGE": base}
    if gpu:
        from docker.errors import ImageNotFound

        try:
            client.images.get(DEFAULT_TAG)
        except ImageNotFound:
            yield Failed(f"The GPU image copies its model from {DEFAULT_TAG}: build that first.")
            return
        args["MODEL_IMAGE"] = DEFAULT_TAG
    engine = os.environ.get("DOCKER_HOST") or "the local Docker engine"
    yield Log(f"Building {tag} on {base} with {engine}.")
    started = time.monotonic()
    image_id = ""
    mirror_source = os.environ.get("DLWORKSHOP_MODEL_MIRROR")
    if mirror_source and not mirror_source.startswith("http") and engine_mod.is_remote():
        yield Log("The engine is remote: it downloads the model from its public URL.")
        mirror_source = None
    with _mirror_for_build(mirror_source) as mirror:
        stream = client.api.build(
            fileobj=context_tar(), custom_context=True, encoding="gzip",
            dockerfile=GPU_DOCKERFILE if gpu else DOCKERFILE, tag=tag,
            buildargs={**args, "MODEL_MIRROR": mirror}, rm=True,
            forcerm=True, nocache=no_cache, decode=True,
            network_mode="host",  # the mirror on loopback, and the sandbox's own network
        )  # fmt: skip
        for item in stream:
            if "error" in item or "errorDetail" in item:
                detail = item.get("errorDetail", {}).get("message") or item.get("error")
                yield Failed(f"The build failed: {detail}",
                             "Read the build output above for the step that failed.")  # fmt: skip
                return
            if "aux" in item and "ID" in item["aux"]:
                image_id = item["aux"]["ID"]
            for line in str(item.get("stream", "")).splitlines():
                line = line.rstrip()
                if not line:
                    continue
                step = STEP.match(line)
                yield BuildStep(int(step[1]), int(step[2]), step[3]) if step else BuildLine(line)
    image = client.images.get(image_id or tag)
    yield BuildDone(image.id, tag, image.attrs["Size"] / 1e6, time.monotonic() - started)
