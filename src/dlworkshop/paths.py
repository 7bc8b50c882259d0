"""Where dlworkshop keeps its state and caches."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The app's config directory: $DLWORKSHOP_HOME, else $XDG_CONFIG_HOME/dlworkshop."""
    home = os.environ.get("DLWORKSHOP_HOME")
    if home:
        return Path(home)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dlworkshop"


def cache_dir() -> Path:
    """The app's cache directory: $XDG_CACHE_HOME/dlworkshop (models live here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dlworkshop"


def state_file() -> Path:
    """The JSON file holding progress and settings."""
    return config_dir() / "state.json"


def ensure_private_dir(path: Path) -> Path:
    """Create a directory readable only by its owner (it will hold keys and tokens)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
