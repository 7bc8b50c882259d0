"""Classify files, folders and URLs, in-process or through a model server's endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlworkshop.classifier.preprocess import BadImage
from dlworkshop.classifier.registry import DEFAULT_MODEL
from dlworkshop.events import Event

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
MAX_DOWNLOAD = 20 * 1024 * 1024
BATCH = 16


@dataclass(frozen=True)
class Classified(Event):
    """One image's verdict."""

    source: str
    is_cat: bool
    cat_probability: float
    top_k: list[dict] = field(default_factory=list)
    model: str = ""

    def render_text(self) -> str:
        verdict = "[bold green]CAT[/]" if self.is_cat else "[bold red]NOT A CAT[/]"
        best = ", ".join(
            f"{t['label'].split(',')[0]} {t['probability']:.0%}" for t in self.top_k[:3]
        )
        return f"{verdict} {self.cat_probability:6.1%}  {self.source}  [dim]({best})[/]"


@dataclass(frozen=True)
class ClassifyError(Event):
    """An image that could not be classified, and why; the batch goes on."""

    source: str
    error: str

    def render_text(self) -> str:
        return f"[bold yellow]SKIPPED[/] {self.source}: {self.error}"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def expand(sources: list[str]) -> list[str]:
    """Files stay, URLs stay, folders become every image inside them (sorted, recursive)."""
    out: list[str] = []
    for source in sources:
        path = Path(source)
        if not is_url(source) and path.is_dir():
            out.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            out.append(source)
    return out


def read_source(source: str, limit: int = MAX_DOWNLOAD) -> bytes:
    """The bytes of a file or URL, refusing anything larger than `limit`."""
    if is_url(source):
        import httpx

        chunks, size = [], 0
        try:
            with httpx.stream("GET", source, follow_redirects=True, timeout=30) as resp:
                if resp.status_code != 200:
                    raise BadImage(f"{source} answered HTTP {resp.status_code}.")
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise BadImage(f"{source} is larger than {limit // (1024 * 1024)} MB.")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise BadImage(_unreachable(source, exc)) from None
        return b"".join(chunks)
    path = Path(source)
    if not path.exists():
        raise BadImage(f"{source} does not exist.")
    if path.stat().st_size > limit:
        raise BadImage(f"{source} is larger than {limit // (1024 * 1024)} MB.")
    return path.read_bytes()


def _unreachable(source: str, exc: Exception) -> str:
    """Why a URL could not be fetched, in words."""
    from urllib.parse import urlsplit

    import httpx

    host = urlsplit(source).hostname or source
    text = str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} did not answer within 30 s."
    if isinstance(exc, httpx.ConnectError) and ("Name or service not known" in text
                                                or "Errno -2" in text or "Errno -3" in text
                                                or "nodename nor servname" in text):  # fmt: skip
        return f"The host {host} could not be found: check the URL, or your network."
    if isinstance(exc, httpx.ConnectError):
        return f"Nothing answered at {host}: the connection was refused or could not be made."
    return f"{source} could not be downloaded ({type(exc).__name__}: {text})."


def error_text(exc: Exception) -> str:
    if isinstance(exc, BadImage | OSError):
        return str(exc)
    from dlworkshop.errors import explain

    return explain(exc)


def _in_process(sources: list[str], model: str, gpu: bool) -> Iterator[Event]:
    from dlworkshop.classifier import model as model_mod

    classifier = model_mod.load(model, gpu)
    for start in range(0, len(sources), BATCH):
        chunk = sources[start : start + BATCH]
        arrays: list[tuple[str, Any]] = []
        results: dict[str, Event] = {}
        for source in chunk:
            try:
                arrays.append((source, classifier.preprocess(read_source(source))))
            except Exception as exc:  # one bad file never stops the batch
                results[source] = ClassifyError(source, error_text(exc))
        if arrays:
            import numpy as np

            probs = classifier.probabilities(np.stack([a for _, a in arrays]))
            for (source, _), pred in zip(arrays, classifier.verdicts(probs), strict=True):
                d = pred.to_dict()
                results[source] = Classified(
                    source, d["is_cat"], d["cat_probability"], d["top_k"], d["model"]
                )
        for source in chunk:
            yield results[source]


def post_image(
    client, endpoint: str, model: str, source: str, data: bytes
) -> Classified | ClassifyError:
    """Classify bytes already read through a server's endpoint: Classified or ClassifyError."""
    import httpx

    url = f"{endpoint.rstrip('/')}/predictions/{model}"
    try:
        resp = client.post(url, content=data, headers={"content-type": "application/octet-stream"})
        body = resp.json()
    except httpx.HTTPError as exc:
        return ClassifyError(source, f"The endpoint {endpoint} did not answer: {exc}")
    except ValueError:
        return ClassifyError(source, f"The endpoint {endpoint} did not answer with JSON.")
    if resp.status_code != 200:
        return ClassifyError(source, body.get("message", f"HTTP {resp.status_code}"))
    return Classified(source, body["is_cat"], body["cat_probability"], body["top_k"],
                      body["model"])  # fmt: skip


def _through_endpoint(sources: list[str], model: str, endpoint: str) -> Iterator[Event]:
    import httpx

    with httpx.Client(timeout=60) as client:
        for source in sources:
            try:
                data = read_source(source)
            except Exception as exc:
                yield ClassifyError(source, error_text(exc))
                continue
            yield post_image(client, endpoint, model, source, data)


def classify(
    sources: list[str],
    model: str = DEFAULT_MODEL,
    endpoint: str | None = None,
    gpu: bool = False,
) -> Iterator[Event]:
    """One Classified or ClassifyError event per image, in order."""
    expanded = expand(sources)
    if endpoint:
        yield from _through_endpoint(expanded, model, endpoint)
    else:
        yield from _in_process(expanded, model, gpu)
