"""Push the image to the stack's ECR repository, as a stream of per-layer events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dlworkshop.container.build import DEFAULT_TAG
from dlworkshop.events import Event, Failed, Log

PROGRESS_EVERY = 0.5  # seconds between progress events of one layer (the engine sends many)
DONE = ("Pushed", "Layer already exists", "Mounted from")


@dataclass(frozen=True)
class PushLayer(Event):
    """One layer's state: Preparing, Waiting, Pushing (with bytes), Pushed, already there."""

    layer: str
    status: str
    current: int = 0
    total: int = 0

    @property
    def done(self) -> bool:
        return self.status.startswith(DONE)

    def render_text(self) -> str:
        if self.total:
            return f"{self.layer} {self.status} {self.current / 1e6:.0f}/{self.total / 1e6:.0f} MB"
        return f"{self.layer} {self.status}"


@dataclass(frozen=True)
class PushDone(Event):
    """The image is in the repository, under this digest."""

    repository: str  # the ECR URI learners use in task definitions
    tag: str
    digest: str
    seconds: float

    def render_text(self) -> str:
        return (f"[bold green]Pushed[/] {self.repository}:{self.tag} in {self.seconds:.0f} s\n"
                f"digest {self.digest}")  # fmt: skip


def _layer_events(stream: Iterator[dict]) -> Iterator[Event | dict]:
    """Per-layer events from the engine's push stream, throttled; stream errors as Failed;
    the final aux item (tag, digest, size) passed through as a dict."""
    last: dict[str, tuple[str, float]] = {}
    for item in stream:
        if "error" in item or "errorDetail" in item:
            detail = item.get("errorDetail") or {}
            yield Failed(f"The push failed: {detail.get('message') or item.get('error')}")
            return
        if "aux" in item:
            yield item["aux"]
            continue
        layer, status = item.get("id"), item.get("status", "")
        if not layer or ":" in layer:  # "latest: digest: ..." lines carry a tag, not a layer
            continue
        progress = item.get("progressDetail") or {}
        now = time.monotonic()
        seen = last.get(layer)
        if seen and seen[0] == status and status == "Pushing" and now - seen[1] < PROGRESS_EVERY:
            continue
        last[layer] = (status, now)
        yield PushLayer(layer, status, int(progress.get("current") or 0),
                        int(progress.get("total") or 0))  # fmt: skip


def push(client: Any, ctx, source: str = DEFAULT_TAG, tag: str = "latest") -> Iterator[Event]:
    """Log in with ECR's token, tag `source` with the repository URI, push it, show the digest."""
    from docker.errors import APIError, ImageNotFound

    from dlworkshop.aws import registry

    try:
        client.images.get(source)
    except ImageNotFound:
        yield Failed(f"There is no {source} image to push: build it first.")
        return
    repo = registry.repository(ctx)
    where = registry.login(ctx)
    target = registry.push_name(repo, where)
    yield Log(f"Logging in to {where.registry} as {where.username} (a 12-hour ECR token).")
    try:
        client.login(username=where.username, password=where.password,
                     registry=where.registry, reauth=True)  # fmt: skip
    except APIError as exc:
        yield Failed(f"{where.registry} refused the login: {exc.explanation or exc}")
        return
    client.api.tag(source, target, tag)
    yield Log(f"Pushing {source} as {repo.uri}:{tag}…")
    started = time.monotonic()
    auth = {"username": where.username, "password": where.password}
    stream = client.api.push(target, tag, stream=True, decode=True, auth_config=auth)
    digest = ""
    for event in _layer_events(stream):
        if isinstance(event, dict):
            digest = event.get("Digest", digest)
            continue
        yield event
        if isinstance(event, Failed):
            return
    if target != repo.uri:
        # Pushed through an endpoint other than the repository's own name (a proxy, or the
        # sandbox's registry, whose port changes): that tag means nothing later.
        client.api.remove_image(f"{target}:{tag}", noprune=True)
    if not digest:
        yield Failed("The engine finished the push without reporting a digest.")
        return
    yield PushDone(repo.uri, tag, digest, time.monotonic() - started)
