"""A batch prediction: classify every photo of a folder or S3 prefix, write predictions.json.

This is what the workshop's `predict` ECS task runs; it works on local folders too.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dlworkshop.aws import s3uri
from dlworkshop.classifier.classify import IMAGE_SUFFIXES, Classified, ClassifyError, classify
from dlworkshop.classifier.registry import DEFAULT_MODEL
from dlworkshop.errors import UserError
from dlworkshop.events import Event, Log

RESULT = "predictions.json"


@dataclass(frozen=True)
class PredictionsWritten(Event):
    """predictions.json is written: how many photos, how many cats."""

    where: str
    model: str
    classified: int
    cats: int
    skipped: int

    def render_text(self) -> str:
        return (f"[bold green]Wrote[/] {self.where}: {self.classified} photo(s) classified, "
                f"{self.cats} cat(s), {self.skipped} skipped (model {self.model})")


def _model_from_s3(s3, uri: str, folder: Path) -> str:
    """A trained model's folder copied from S3; refused unless its metrics.json is there
    (written last, so a folder without it is an export that did not finish)."""
    prefix = uri if uri.endswith("/") else uri + "/"
    got = s3uri.download_prefix(s3, prefix, folder)
    if not any(p.name == "metrics.json" for p in got):
        raise UserError(f"{prefix} holds no finished model (no metrics.json): train it again.")
    return str(folder)


def run(source: str, out: str, model: str = DEFAULT_MODEL, run_id: str = "") -> Iterator[Event]:
    """Classify every photo under `source` (a folder or s3://…) with `model` (a name, a
    trained model's folder or its s3:// prefix) and write the results to `out`."""
    s3 = s3uri.client() if any(s3uri.is_s3(x) for x in (source, out, model)) else None
    for where in (source, out, model):
        if s3uri.is_s3(where):
            s3uri.check_bucket(s3, s3uri.split(where)[0])
    with tempfile.TemporaryDirectory(prefix="dlworkshop-predict-") as scratch:
        keys: dict[str, str] = {}  # local path -> what the result calls it
        if s3uri.is_s3(source):
            got = s3uri.download_prefix(s3, source, Path(scratch) / "photos", IMAGE_SUFFIXES)
            keys = {str(p): f"s3://{s3uri.split(source)[0]}/{k}" for p, k in got.items()}
            sources = sorted(keys)
            yield Log(f"Copied {len(sources)} photo(s) from {source}.")
        else:
            if not Path(source).exists():
                raise UserError(f"{source} does not exist.")
            sources = [source]
        if s3uri.is_s3(model):
            model = _model_from_s3(s3, model, Path(scratch) / "model")
        predictions, skipped = [], []
        for event in classify(sources, model):
            yield event
            if isinstance(event, Classified):
                predictions.append({"source": keys.get(event.source, event.source),
                                    "is_cat": event.is_cat,
                                    "cat_probability": event.cat_probability,
                                    "top_k": event.top_k[:3]})  # fmt: skip
            elif isinstance(event, ClassifyError):
                skipped.append({"source": keys.get(event.source, event.source),
                                "error": event.error})  # fmt: skip
        if not predictions and not skipped:
            raise UserError(f"{source} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                            "upload some with `dlworkshop upload PATH`.")  # fmt: skip
        used = _model_name(model)
        body = {"run_id": run_id, "model": used, "input": source,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "predictions": predictions, "skipped": skipped}  # fmt: skip
        _write(s3, out, body)
    cats = sum(1 for p in predictions if p["is_cat"])
    yield PredictionsWritten(out, used, len(predictions), cats, len(skipped))


def _model_name(model: str) -> str:
    from dlworkshop.classifier import registry

    return registry.get(model).name


def _write(s3, out: str, body: dict) -> None:
    if s3uri.is_s3(out):
        s3uri.put_json(s3, out, body)
        return
    import json

    from dlworkshop.atomic import write_atomic

    write_atomic(Path(out), json.dumps(body, indent=2).encode(), mode=0o644)
