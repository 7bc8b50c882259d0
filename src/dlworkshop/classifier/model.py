"""Load a classifier with MXNet and predict, batch by batch, with a cat verdict."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dlworkshop.atomic import write_atomic
from dlworkshop.classifier import preprocess, registry
from dlworkshop.classifier.fetch import fetch
from dlworkshop.classifier.registry import ModelSpec
from dlworkshop.errors import UserError


@dataclass(frozen=True)
class Label:
    """One class and its probability."""

    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """What the model thinks an image shows, and whether that is a cat."""

    is_cat: bool
    cat_probability: float
    top_k: list[Label]
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def model_dir(spec: ModelSpec) -> Path:
    """The cache folder of one model."""
    if spec.name in registry.trained_models():
        return registry.trained_dir() / spec.name
    return registry.models_dir() / spec.name.replace(":", "_")


def prepare(spec: ModelSpec, progress: Callable[[str], None] = lambda m: None) -> Path:
    """Fetch (and for TFLite, convert) a model; returns the MXNet checkpoint prefix."""
    folder = model_dir(spec)
    if spec.format == "gluon-zoo":
        for asset in registry.BUILTIN[registry.DEFAULT_MODEL].assets[1:]:
            fetch(asset, folder)
        return folder / "model"
    for asset in spec.assets:
        progress(f"fetching {asset.name}")
        fetch(asset, folder)
    if spec.format == "mxnet" and spec.assets:
        symbol = next(a for a in spec.assets if a.name.endswith("-symbol.json"))
        return folder / symbol.name.removesuffix("-symbol.json")
    if spec.format == "mxnet":  # a trained model: files are already in its folder
        return folder / "model"
    prefix = folder / "model"
    tflite_asset = next(a for a in spec.assets if a.name.endswith(".tflite"))
    stamp = folder / "converted-from.json"
    if not (Path(f"{prefix}-symbol.json").exists() and _stamp_matches(stamp, tflite_asset.sha256)):
        from dlworkshop.classifier import tflite_convert

        progress(f"converting {tflite_asset.name} to MXNet")
        converted = tflite_convert.convert(folder / tflite_asset.name)
        tflite_convert.save(converted, prefix)
        write_atomic(stamp, json.dumps({"sha256": tflite_asset.sha256}).encode(), 0o644)
    return prefix


def _stamp_matches(stamp: Path, sha256: str) -> bool:
    try:
        return json.loads(stamp.read_text()).get("sha256") == sha256
    except (OSError, ValueError):
        return False


def _labels(spec: ModelSpec) -> list[str]:
    if spec.labels:
        return list(spec.labels)
    text = (model_dir(spec) / str(spec.labels_asset)).read_text("utf-8")
    labels = text.splitlines()
    return labels[int(spec.extra.get("label_offset", 0)) :]


def _context(gpu: bool):
    import mxnet as mx

    if not gpu:
        return mx.cpu()
    if mx.context.num_gpus() == 0:
        raise UserError("--gpu was given, but MXNet sees no GPU on this machine.")
    return mx.gpu(0)


class Classifier:
    """A loaded model; `predict` runs one forward pass for a whole batch."""

    def __init__(self, spec: ModelSpec, gpu: bool = False) -> None:
        import mxnet as mx

        self.spec = spec
        self.ctx = _context(gpu)
        prefix = prepare(spec)
        if spec.format == "gluon-zoo":
            from mxnet.gluon.model_zoo import vision

            self.net = vision.get_model(spec.extra["zoo_name"], pretrained=True, ctx=self.ctx)
        else:
            with warnings.catch_warnings():
                # MXNet warns that it cannot infer the input's dtype; it is float32, as given.
                warnings.simplefilter("ignore", UserWarning)
                self.net = mx.gluon.nn.SymbolBlock.imports(
                    f"{prefix}-symbol.json", ["data"], f"{prefix}-0000.params", ctx=self.ctx
                )
        self.net.hybridize(static_alloc=True, static_shape=True)
        self.labels = _labels(spec)
        cats = set(spec.cat_labels)
        self.cat_index = [i for i, name in enumerate(self.labels) if name in cats]
        if len(self.cat_index) != len(cats):
            raise UserError(f"{spec.name}: not every cat label is among the model's labels.")
        # MXNet's engine is thread-safe, but one forward pass at a time keeps memory flat.
        self._lock = threading.Lock()

    def preprocess(self, data: bytes) -> np.ndarray:
        """Image bytes to the model's input array (raises BadImage)."""
        img = preprocess.decode(data)
        img = preprocess.resize_crop(img, self.spec.input_size, self.spec.crop_fraction)
        return preprocess.to_array(img, self.spec.scale, self.spec.mean, self.spec.std)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """One forward pass over an (N, 3, H, W) batch; returns (N, classes) probabilities."""
        import mxnet as mx

        with self._lock:
            out = self.net(mx.nd.array(batch, ctx=self.ctx))
            if self.spec.output != "softmax":
                out = mx.nd.softmax(out, axis=-1)
            return out.asnumpy()

    def verdicts(self, probs: np.ndarray, k: int = 5) -> list[Prediction]:
        """Top-k labels and the cat verdict for each row of probabilities."""
        results = []
        for row in probs:
            order = np.argsort(row)[::-1][:k]
            cat = float(row[self.cat_index].sum())
            results.append(
                Prediction(
                    is_cat=cat >= self.spec.cat_threshold,
                    cat_probability=round(cat, 6),
                    top_k=[Label(self.labels[i], round(float(row[i]), 6)) for i in order],
                    model=self.spec.name,
                )
            )
        return results

    def predict(self, images: Sequence[bytes], k: int = 5) -> list[Prediction]:
        """Classify images in one batch (bad images raise BadImage)."""
        batch = np.stack([self.preprocess(data) for data in images])
        return self.verdicts(self.probabilities(batch), k)


_LOADED: dict[tuple[str, bool], Classifier] = {}
_LOADING = threading.Lock()


def load(name: str = registry.DEFAULT_MODEL, gpu: bool = False) -> Classifier:
    """A cached Classifier for a model name."""
    with _LOADING:
        key = (name, gpu)
        if key not in _LOADED:
            _LOADED[key] = Classifier(registry.get(name), gpu)
        return _LOADED[key]
