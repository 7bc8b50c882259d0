"""Download pinned files, verify their sha256 and store them atomically in the cache."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlworkshop.errors import UserError

MIRROR_ENV = "DLWORKSHOP_MODEL_MIRROR"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Asset:
    """A public file pinned by URL (to a commit) and sha256."""

    name: str
    url: str
    sha256: str
    size: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_from(source: str, asset: Asset, out, progress: Callable[[int], None]) -> None:
    """Stream the asset from a URL or a local mirror directory into `out`."""
    if source.startswith(("http://", "https://")):
        import httpx

        with httpx.stream("GET", source, follow_redirects=True, timeout=60) as resp:
            if resp.status_code != 200:
                raise UserError(f"{source} answered HTTP {resp.status_code}.")
            for block in resp.iter_bytes(CHUNK):
                out.write(block)
                progress(len(block))
        return
    with open(source, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            out.write(block)
            progress(len(block))


def sources(asset: Asset, mirror: str | None = None) -> list[str]:
    """Where to fetch from: the mirror (a directory or URL) if set, else the public URL."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if not mirror:
        return [asset.url]
    if mirror.startswith(("http://", "https://")):
        return [f"{mirror.rstrip('/')}/{asset.name}"]
    return [str(Path(mirror) / asset.name)]


def fetch(
    asset: Asset,
    dest_dir: Path,
    mirror: str | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> Path:
    """The verified file in `dest_dir`, downloading it first if it is missing or wrong."""
    dest = dest_dir / asset.name
    if dest.exists() and dest.stat().st_size == asset.size and _sha256(dest) == asset.sha256:
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    errors = []
    for source in sources(asset, mirror):
        fd, tmp = tempfile.mkstemp(prefix=f".{asset.name}.", dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_from(source, asset, out, progress)
                out.flush()
                os.fsync(out.fileno())
            got = _sha256(Path(tmp))
            if got != asset.sha256:
                raise UserError(
                    f"{source} has sha256 {got}, not the pinned {asset.sha256}: refusing to use it."
                )
            os.replace(tmp, dest)
            return dest
        except (OSError, UserError) as exc:
            errors.append(f"{source}: {exc}")
        except Exception as exc:  # httpx errors: keep going to report every source
            errors.append(f"{source}: {type(exc).__name__}: {exc}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    hint = (
        f" Offline? Point {MIRROR_ENV} at a folder or URL holding {asset.name}."
        if not os.environ.get(MIRROR_ENV)
        else ""
    )
    raise UserError(f"Could not fetch {asset.name}: {'; '.join(errors)}.{hint}")
