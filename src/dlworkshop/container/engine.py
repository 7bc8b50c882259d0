"""The Docker engine to talk to: DOCKER_HOST, else the current Docker context, else local."""

from __future__ import annotations

import os
from typing import Any

from dlworkshop.errors import UserError


def client() -> Any:
    """A Docker SDK client for the engine the learner's `docker` command would use."""
    import docker
    from docker.errors import DockerException

    try:
        if os.environ.get("DOCKER_HOST"):
            return docker.from_env()
        from docker.context import ContextAPI

        context = ContextAPI.get_current_context()
        host = context.Host if context else None
        return docker.DockerClient(base_url=host) if host else docker.from_env()
    except DockerException as exc:
        raise UserError(
            f"No Docker engine answered ({exc}). Start Docker, set DOCKER_HOST, or build on "
            "a container instance with DOCKER_HOST=ssh://ec2-user@HOST."
        ) from None
