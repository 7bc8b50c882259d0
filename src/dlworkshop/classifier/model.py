"""Load a classifier with MXNet and predict, batch by batch, with a cat verdict."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    cat_probability: float  # the cat classes' summed probability
    top_k: list[Label]
    model: str
    cat_share: float = 0.0  # their share of the animal classes' mass (the verdict's score)

    def to_dict(self) -> dict:
        # By hand: dataclasses.asdict's deep copy was 4% of the server front's CPU.
        return {"is_cat": self.is_cat, "cat_probability": self.cat_probability,
                "top_k": [{"label": t.label, "probability": t.probability} for t in self.top_k],
                "model": self.model, "cat_share": self.cat_share}  # fmt: skip


def model_dir(spec: ModelSpec) -> Path:
    """The cache folder of one model (or the folder a trained model was loaded from)."""
    if spec.extra.get("path"):
        return Path(spec.extra["path"])
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


def fusion_available() -> bool:
    """MXNet was built with oneDNN (MKLDNN), whose subgraph backend fuses the graph."""
    import mxnet as mx

    return bool(mx.runtime.Features().is_enabled("MKLDNN"))


def model_input(spec: ModelSpec, data: bytes) -> np.ndarray:
    """Image bytes to one model input array, as every path that runs a model prepares it."""
    # JPEG draft decoding down to twice the resize target: 2x faster on large photos,
    # the same top-1 on 105 of the 106 shared photos (drafting down to the target
    # itself changed five; benchmarks/README.md).
    short = round(spec.input_size / spec.crop_fraction)
    img = preprocess.decode(data, short_side=2 * short)
    if spec.channels == 1:  # a greyscale model (trained on MNIST or Fashion-MNIST)
        grey = preprocess.resize_crop(img, spec.input_size, spec.crop_fraction).convert("L")
        arr = np.asarray(grey, dtype=np.float32)[None]
        return (arr / np.float32(spec.scale) - np.float32(spec.mean[0])) / np.float32(spec.std[0])
    img = preprocess.resize_crop(img, spec.input_size, spec.crop_fraction)
    return preprocess.to_array(img, spec.scale, spec.mean, spec.std)


class Judge:
    """Labels and the cat verdict of one model: needs its label file, not MXNet."""

    def __init__(self, spec: ModelSpec, labels: list[str] | None = None) -> None:
        self.spec = spec
        self.labels = labels if labels is not None else _labels(spec)
        cats = set(spec.cat_labels)
        self.cat_index = [i for i, name in enumerate(self.labels) if name in cats]
        if len(self.cat_index) != len(cats):
            raise UserError(f"{spec.name}: not every cat label is among the model's labels.")
        self.animals = slice(0, len(self.labels))
        if spec.animal_labels:
            first, last = (self.labels.index(name) for name in spec.animal_labels)
            self.animals = slice(first, last + 1)

    def verdicts(self, probs: np.ndarray, k: int = 5) -> list[Prediction]:
        """Top-k labels and the cat verdict for each row of probabilities."""
        results = []
        for row in probs:
            top = np.argpartition(row, -k)[-k:] if 0 < k < len(row) else np.arange(len(row))
            order = top[np.argsort(row[top], kind="stable")[::-1]][:k]
            cat, share = self.cat_scores(row)
            results.append(
                Prediction(
                    is_cat=share >= self.spec.cat_threshold and cat >= self.spec.min_cat_mass,
                    cat_probability=round(cat, 6),
                    top_k=[Label(self.labels[i], round(float(row[i]), 6)) for i in order],
                    model=self.spec.name,
                    cat_share=round(share, 6),
                )
            )
        return results

    def cat_scores(self, row: np.ndarray) -> tuple[float, float]:
        """(cat mass, the cats' share of the animal mass) of one row of probabilities."""
        cat = float(row[self.cat_index].sum())
        animals = float(row[self.animals].sum())
        return cat, (cat / animals if animals > 0 else 0.0)


class Classifier:
    """A loaded model; `predict` runs one forward pass for a whole batch."""

    def __init__(self, spec: ModelSpec, gpu: bool = False, fused: bool = True) -> None:
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
        # oneDNN's subgraph backend fuses convolution + batch norm + activation: on this
        # project's CPUs MobileNetV2 runs 2-2.5x faster with the same answers (a test
        # checks the top-5 on every shared photo).
        self.fused = fused and not gpu and fusion_available()
        if self.fused:
            size = spec.input_size
            example = mx.nd.zeros((1, spec.channels, size, size), ctx=self.ctx)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.net.optimize_for(example, backend="MKLDNN", static_alloc=True,
                                      static_shape=True)  # fmt: skip
        self.judge = Judge(spec)
        self.labels = self.judge.labels
        # MXNet's engine is thread-safe, but one forward pass at a time keeps memory flat.
        self._lock = threading.Lock()

    def preprocess(self, data: bytes) -> np.ndarray:
        """Image bytes to the model's input array (raises BadImage)."""
        return model_input(self.spec, data)

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
        return self.judge.verdicts(probs, k)

    def cat_scores(self, row: np.ndarray) -> tuple[float, float]:
        """(cat mass, the cats' share of the animal mass) of one row of probabilities."""
        return self.judge.cat_scores(row)

    def predict(self, images: Sequence[bytes], k: int = 5) -> list[Prediction]:
        """Classify images in one batch (bad images raise BadImage)."""
        batch = np.stack([self.preprocess(data) for data in images])
        return self.verdicts(self.probabilities(batch), k)


_LOADED: dict[tuple[str, bool, bool], Classifier] = {}
_LOADING = threading.Lock()


def load(name: str = registry.DEFAULT_MODEL, gpu: bool = False, fused: bool = True) -> Classifier:
    """A cached Classifier for a model name."""
    with _LOADING:
        key = (name, gpu, fused)
        if key not in _LOADED:
            _LOADED[key] = Classifier(registry.get(name), gpu, fused)
        return _LOADED[key]
