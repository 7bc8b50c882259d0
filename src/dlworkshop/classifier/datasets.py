"""Training sets: Fashion-MNIST from Debian's package offline; MNIST and CIFAR-10 online."""

from __future__ import annotations

import gzip
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlworkshop.classifier.fetch import Asset, fetch
from dlworkshop.errors import UserError
from dlworkshop.paths import cache_dir

# Debian's dataset-fashion-mnist ships the four IDX files here.
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot")  # fmt: skip
DIGITS = tuple(str(d) for d in range(10))
CIFAR10_LABELS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck")  # fmt: skip
IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist"
MNIST = (
    Asset(IDX[0], f"{MNIST_URL}/{IDX[0]}",
          "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
    Asset(IDX[1], f"{MNIST_URL}/{IDX[1]}",
          "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
    Asset(IDX[2], f"{MNIST_URL}/{IDX[2]}",
          "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    Asset(IDX[3], f"{MNIST_URL}/{IDX[3]}",
          "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
)  # fmt: skip
CIFAR10 = Asset("cifar-10-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                170498071)  # fmt: skip
# Debian's copies (recompressed, so their sums differ from the upstream files'); pinned so
# that a copy staged in S3 for a training task is checked before it is trained on.
FASHION = tuple(Asset(name, str(DEBIAN_FASHION / name), sha, size) for name, sha, size in (
    (IDX[0], "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 26421856),
    (IDX[1], "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 29491),
    (IDX[2], "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 4422079),
    (IDX[3], "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 5125),
))  # fmt: skip
NAMES = ("fashion-mnist", "mnist", "cifar10")


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 NCHW arrays, labels as int32, and the class names."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    labels: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_x.shape[1:]
        return c, h, w


def _idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): the magic number says the dimensions; the data is uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes.")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise UserError(f"{path} is cut short: {data.size} bytes for shape {shape}.")
    return data.reshape(shape)


def _from_idx(name: str, folder: Path, labels: tuple[str, ...]) -> Dataset:
    train_x, train_y, test_x, test_y = (_idx(folder / f) for f in IDX)
    return Dataset(name, train_x[:, None], train_y.astype(np.int32), test_x[:, None],
                   test_y.astype(np.int32), labels)  # fmt: skip


def offline_error(name: str, exc: Exception) -> UserError:
    return UserError(f"{name} is downloaded from its public URL, and that failed ({exc}). "
                     "Offline, train on fashion-mnist (Debian's dataset-fashion-mnist).")


def assets(name: str) -> tuple[Asset, ...]:
    """The pinned files a dataset is made of."""
    return {"fashion-mnist": FASHION, "mnist": MNIST, "cifar10": (CIFAR10,)}[name]


def folder_of(name: str, source: Path | None = None) -> Path:
    """The folder holding the dataset's pinned files (`assets(name)`), fetched or copied
    first when needed, with a clear message when they cannot be had. `source` is a folder
    the files were put in (a training task's copy from S3): each is checked against its
    pin."""
    if name not in NAMES:
        raise UserError(f"There is no dataset called {name!r}: pick one of {', '.join(NAMES)}.")
    if name == "fashion-mnist" and source is None:
        if not all((DEBIAN_FASHION / f).exists() for f in IDX):
            raise UserError(f"Fashion-MNIST is not in {DEBIAN_FASHION}: install Debian's "
                            "package (apt-get install dataset-fashion-mnist; `./workshop "
                            "setup` does).")  # fmt: skip
        return DEBIAN_FASHION
    folder = cache_dir() / "datasets" / name
    try:
        for asset in assets(name):
            fetch(asset, folder, mirror=str(source) if source is not None else None)
    except UserError as exc:
        if source is not None:
            raise UserError(f"The copy of {name} in {source} is not usable: {exc}") from None
        raise offline_error(name, exc) from None
    return folder


def load(name: str, source: Path | None = None) -> Dataset:
    """One of NAMES, read from `folder_of(name, source)`."""
    folder = folder_of(name, source)
    if name == "cifar10":
        return _cifar(folder / CIFAR10.name)
    return _from_idx(name, folder, DIGITS if name == "mnist" else FASHION_LABELS)


def _cifar(archive: Path) -> Dataset:
    parts: dict[str, list] = {"train": [], "test": []}
    with tarfile.open(archive, "r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            base = Path(member.name).name
            which = "train" if base.startswith("data_batch") else (
                "test" if base == "test_batch" else None)  # fmt: skip
            if which is None:
                continue
            f = tar.extractfile(member)
            assert f is not None
            # The archive's own format (pickled dicts of arrays), from a checksummed file.
            batch = pickle.load(f, encoding="bytes")
            parts[which].append(batch)

    def stack(batches: list) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
        y = np.concatenate([np.asarray(b[b"labels"], np.int32) for b in batches])
        return x, y

    (train_x, train_y), (test_x, test_y) = stack(parts["train"]), stack(parts["test"])
    return Dataset("cifar10", train_x, train_y, test_x, test_y, CIFAR10_LABELS)
