"""Run things in the image: the "container runs MXNet" check, and the model server."""

from __future__ import annotations

from typing import Any

from dlworkshop.checkpoints import CheckResult
from dlworkshop.container.build import DEFAULT_TAG


def mxnet_version(client: Any, tag: str = DEFAULT_TAG) -> str:
    """Import mxnet inside the image and return its version."""
    out = client.containers.run(
        tag, ["python", "-c", "import mxnet; print(mxnet.__version__)"],
        remove=True, network_mode="none", stdout=True, stderr=True,
    )  # fmt: skip
    return out.decode().strip().splitlines()[-1]


def check_runs_mxnet(ctx) -> CheckResult:
    """Checkpoint: the container runs MXNet."""
    from dlworkshop.container.engine import client

    version = mxnet_version(client())
    if version == "1.9.1":
        return CheckResult.ok(f"mxnet {version} imports in {DEFAULT_TAG}")
    return CheckResult.fail(f"the image's mxnet says {version!r}, not 1.9.1")


def check_built(ctx) -> CheckResult:
    """Checkpoint: the image exists in the engine."""
    from docker.errors import ImageNotFound

    from dlworkshop.container.engine import client

    try:
        image = client().images.get(DEFAULT_TAG)
    except ImageNotFound:
        return CheckResult.fail(f"There is no {DEFAULT_TAG} image yet: build it in Lab 2.")
    return CheckResult.ok(f"{DEFAULT_TAG} is {image.attrs['Size'] / 1e6:.0f} MB")
