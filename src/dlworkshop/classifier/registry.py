"""The models dlworkshop knows: where they come from, their inputs, labels and cat classes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dlworkshop.classifier.fetch import Asset
from dlworkshop.errors import UserError
from dlworkshop.paths import cache_dir

WEB_DATA = "https://raw.githubusercontent.com/dmlc/web-data/0818ee5787b3824f1bca2f4bd98ef6abe689f7db/gluoncv/models"
CORAL = "https://raw.githubusercontent.com/google-coral/test_data/104342d2d3480b3e66203073dac24f4e2dbb4c41"

CIFAR10_LABELS = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
IMAGENET_CATS = ("tabby, tabby cat", "tiger cat", "Persian cat", "Siamese cat, Siamese",
                 "Egyptian cat")  # fmt: skip
IMAGENET_ANIMALS = ("tench, Tinca tinca", "puffer, pufferfish, blowfish, globefish")
# The verdict on ImageNet models: the five domestic cats hold at least 30% of the animal
# mass, and at least 1% of all (photos with no animal in them stay far below that).
# Measured on photos/devset (benchmarks/README.md): 25 of 27 cats, no dog (highest share
# 0.03) and no other animal (highest 0.17, a tiger); the mass alone at 0.5 found 20.
IMAGENET_VERDICT: dict[str, Any] = {"cat_labels": IMAGENET_CATS, "animal_labels": IMAGENET_ANIMALS,
                    "cat_threshold": 0.3, "min_cat_mass": 0.01}  # fmt: skip


@dataclass(frozen=True)
class ModelSpec:
    """One classifier: its files, its input format, its labels and which labels are cats."""

    name: str
    title: str
    format: str  # "mxnet" (symbol + params) or "tflite" (converted to MXNet on fetch)
    assets: tuple[Asset, ...]
    input_size: int
    channels: int = 3  # 1: greyscale (MNIST, Fashion-MNIST), resized to the input whole
    # Pixels are scaled by 1/scale, then normalised: (x/scale - mean) / std, per RGB channel.
    scale: float = 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop_fraction: float = 1.0
    output: str = "logits"  # or "softmax" when the graph ends in one
    labels: tuple[str, ...] = ()
    labels_asset: str | None = None
    cat_labels: tuple[str, ...] = ("cat",)
    # Chosen from measurements on ../shared/photos (benchmarks/README.md has the numbers).
    cat_threshold: float = 0.5
    # The first and last label of the model's animal classes, when it has them (ImageNet:
    # tench .. puffer). Then the verdict weighs the cats' share of the animal mass, so a
    # tiger (big cat mass) or a chow (dog mass) never passes for a cat, and a cat beside
    # a laptop (little animal mass at all) still does.
    animal_labels: tuple[str, ...] = ()
    min_cat_mass: float = 0.0
    source: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["assets"] = [asdict(a) for a in self.assets]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        data = dict(data)
        data["assets"] = tuple(Asset(**a) for a in data.get("assets", ()))
        for key in ("mean", "std", "labels", "cat_labels", "animal_labels"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def _cifar(depth: int, symbol_sha: str, symbol_size: int, params_sha: str,
           params_size: int) -> ModelSpec:  # fmt: skip
    """A GluonCV CIFAR-10 ResNet exported as an MXNet SymbolBlock."""
    stem = f"cifar_resnet{depth}_v1"
    return ModelSpec(
        name=f"cifar10-resnet{depth}",
        title=f"ResNet-{depth} v1, CIFAR-10 (GluonCV)",
        format="mxnet",
        assets=(
            Asset(f"{stem}-symbol.json", f"{WEB_DATA}/{stem}-symbol.json", symbol_sha, symbol_size),
            Asset(f"{stem}-0000.params", f"{WEB_DATA}/{stem}-0000.params", params_sha, params_size),
        ),
        input_size=32,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2023, 0.1994, 0.2010),
        labels=CIFAR10_LABELS,
        source="github.com/dmlc/web-data @ 0818ee57, Apache-2.0",
    )


BUILTIN: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="mobilenetv2-imagenet",
            title="MobileNetV2 1.0/224, ImageNet (8-bit TFLite, converted to MXNet)",
            format="tflite",
            assets=(
                Asset(
                    "mobilenet_v2_1.0_224_quant.tflite",
                    f"{CORAL}/mobilenet_v2_1.0_224_quant.tflite",
                    "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
                    3610798,
                ),
                Asset(
                    "imagenet_labels.txt",
                    f"{CORAL}/imagenet_labels.txt",
                    "b8aaeb5630c62626a7d124a05c0e14230a7ffdd2136a31d0190a4fb71c1d82f1",
                    21686,
                ),
            ),
            input_size=224,
            # The converted graph takes raw 0..255 pixels: the input scaling is folded in.
            scale=1.0,
            crop_fraction=0.875,
            output="softmax",
            labels_asset="imagenet_labels.txt",
            **IMAGENET_VERDICT,
            source="github.com/google-coral/test_data @ 104342d2, Apache-2.0",
        ),
        _cifar(
            20,
            "ae91a457205d42c828e4dd7784b038c46011a3b4d749f81eeed6ee02ff648a3f",
            67568,
            "29cb7203f9d2ef56df924382db83ca702f35a94ad01180059e8b940666b1a3cc",
            1105597,
        ),
        _cifar(
            56,
            "90d09df93c2e527e9d174e553403ec6de52e4f07ba4ea362c9c16c4fcefe6562",
            183055,
            "c0f769ecd0268029e2253a32befb71be8a278b3a753423e43e81ef4888906b41",
            3465575,
        ),
    )
}
DEFAULT_MODEL = "mobilenetv2-imagenet"
TRAINED_META = "dlworkshop-model.json"


def models_dir() -> Path:
    """Where fetched and converted models live."""
    return cache_dir() / "models"


def trained_dir() -> Path:
    """Where models trained in the workshop are exported (one folder each, with metadata)."""
    return models_dir() / "trained"


def trained_models() -> dict[str, ModelSpec]:
    """Models exported by the training lab: a folder with symbol, params and metadata."""
    found = {}
    root = trained_dir()
    if root.is_dir():
        for meta in sorted(root.glob(f"*/{TRAINED_META}")):
            if meta.parent.name.startswith("."):
                continue  # an export still being written (or cut short): not a model yet
            try:
                spec = ModelSpec.from_dict(json.loads(meta.read_text()))
            except (ValueError, TypeError, KeyError):
                continue
            found[spec.name] = spec
    return found


def all_models() -> dict[str, ModelSpec]:
    """Built-in and trained models by name."""
    return {**BUILTIN, **trained_models()}


def get(name: str) -> ModelSpec:
    """A model by name, with a clear message listing the known ones."""
    models = all_models()
    if name in models:
        return models[name]
    if name.startswith("gluon:"):
        return gluon_zoo_spec(name.removeprefix("gluon:"))
    folder = Path(name).expanduser()
    if (folder / TRAINED_META).is_file():  # a trained model's folder, copied anywhere
        try:
            spec = ModelSpec.from_dict(json.loads((folder / TRAINED_META).read_text()))
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"{folder / TRAINED_META} is not a model's metadata: {exc}") from None
        return ModelSpec.from_dict({**spec.to_dict(), "name": name,
                                    "extra": {**spec.extra, "path": str(folder.resolve())}})
    by_run = [n for n in trained_models() if n.endswith(f"-{name}")]
    if len(by_run) == 1:  # a training run's id names its model
        return models[by_run[0]]
    raise UserError(
        f"There is no model called {name!r}. Known models: {', '.join(models)}; "
        "or gluon:NAME for a Gluon model-zoo network (needs internet), a training run's "
        "id, or the folder of a trained model."
    )


def gluon_zoo_spec(zoo_name: str) -> ModelSpec:
    """A Gluon model-zoo ImageNet network, downloaded by MXNet itself (online only)."""
    return ModelSpec(
        name=f"gluon:{zoo_name}",
        title=f"Gluon model zoo {zoo_name}, ImageNet (pretrained=True)",
        format="gluon-zoo",
        assets=(),
        input_size=224,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        crop_fraction=0.875,
        labels_asset="imagenet_labels.txt",
        **IMAGENET_VERDICT,
        source="MXNet Gluon model zoo (downloaded at run time)",
        extra={"zoo_name": zoo_name, "label_offset": 1},
    )
