"""The sample cat the Lab 4 checkpoint sends to the endpoint, pinned like the models."""

from __future__ import annotations

import os
from pathlib import Path

from dlworkshop.classifier.fetch import MIRROR_ENV, Asset, fetch
from dlworkshop.classifier.registry import CORAL
from dlworkshop.paths import cache_dir

PHOTO_MIRROR_ENV = "DLWORKSHOP_PHOTO_MIRROR"
SAMPLE_CAT = Asset(
    "cat_720p.jpg",
    f"{CORAL}/cat_720p.jpg",
    "cfb1dbdf64b30de79104a47555ff8e9f12737a12c2128ecd0e7f38531a8c13ce",
    104837,
)


def photo_mirror() -> str | None:
    """$DLWORKSHOP_PHOTO_MIRROR, or photos/coral beside a local model mirror."""
    explicit = os.environ.get(PHOTO_MIRROR_ENV)
    if explicit:
        return explicit
    models = os.environ.get(MIRROR_ENV)
    if models and not models.startswith(("http://", "https://")):
        beside = Path(models).parent / "photos" / "coral"
        if beside.is_dir():
            return str(beside)
    return None


def photos_dir() -> Path | None:
    """A folder of example photos to browse, when one is at hand."""
    mirror = photo_mirror()
    if mirror and not mirror.startswith(("http://", "https://")):
        return Path(mirror).parent if Path(mirror).name == "coral" else Path(mirror)
    return None


def sample_cat() -> Path:
    """The verified sample cat photo, fetched into the cache once."""
    return fetch(SAMPLE_CAT, cache_dir() / "samples", mirror=photo_mirror() or "")
