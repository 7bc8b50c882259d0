"""Advisory file locks that serialise one step across the TUI, the CLI and the sandbox."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from dlworkshop.paths import ensure_private_dir


@contextlib.contextmanager
def held(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600) for the duration of the block."""
    ensure_private_dir(path.parent)
    with open(path, "a") as fh:
        path.chmod(0o600)
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
