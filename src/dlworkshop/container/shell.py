"""An interactive shell in the image: `docker run -it --rm IMAGE bash` on the same engine."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from dlworkshop.container.build import DEFAULT_TAG
from dlworkshop.errors import UserError


def command(client: Any, tag: str = DEFAULT_TAG, argv: list[str] | None = None) -> list[str]:
    """The docker command line for a shell (or `argv`) in `tag`; checks what it needs first.

    The CLI picks its engine as the SDK client did (DOCKER_HOST, else the Docker context).
    """
    from docker.errors import ImageNotFound

    docker = shutil.which("docker")
    if docker is None:
        raise UserError(
            "An interactive shell needs the docker command-line client: install it "
            "(apt-get install docker.io, or Docker Desktop) and try again."
        )
    try:
        client.images.get(tag)
    except ImageNotFound:
        raise UserError(f"There is no {tag} image yet: build it first.") from None
    # The sandbox's engine has no bridge network (it would rewrite the host's firewall).
    network = [] if client.networks.list(names=["bridge"]) else ["--network", "host"]
    tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
    return [docker, "run", "-i", *tty, "--rm", *network, tag, *(argv or ["bash"])]
