"""Pinned downloads: sha256 verified, atomic, from a mirror folder or URL."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
from conftest import MODELS, needs_models

from dlworkshop.classifier import registry
from dlworkshop.classifier.fetch import Asset, fetch, sources
from dlworkshop.errors import UserError

pytestmark = needs_models
LABELS = registry.BUILTIN["mobilenetv2-imagenet"].assets[1]


def test_public_url_is_used_without_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DLWORKSHOP_MODEL_MIRROR")
    assert sources(LABELS) == [LABELS.url]
    assert "104342d2d3480b3e66203073dac24f4e2dbb4c41" in LABELS.url


def test_fetch_from_a_mirror_folder(tmp_path: Path) -> None:
    path = fetch(LABELS, tmp_path / "cache", mirror=str(MODELS))
    assert path.read_bytes() == (MODELS / LABELS.name).read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [LABELS.name]  # no temp files left
    before = path.stat().st_mtime_ns
    assert fetch(LABELS, tmp_path / "cache", mirror="/nonexistent") == path  # cached: no fetch
    assert path.stat().st_mtime_ns == before


def test_fetch_from_a_mirror_url(tmp_path: Path) -> None:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(MODELS))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        path = fetch(LABELS, tmp_path, mirror=url)
        assert path.stat().st_size == LABELS.size
    finally:
        server.shutdown()
        server.server_close()


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    forged = Asset(LABELS.name, LABELS.url, "0" * 64, LABELS.size)
    dest = tmp_path / "dest"
    with pytest.raises(UserError, match="refusing to use it"):
        fetch(forged, dest, mirror=str(MODELS))
    assert list(dest.iterdir()) == []


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    missing = Asset("nope.params", "https://example.invalid/nope.params", "0" * 64, 1)
    with pytest.raises(UserError, match=r"Could not fetch nope\.params") as info:
        fetch(missing, tmp_path, mirror=str(tmp_path / "empty"))
    assert "nope.params" in str(info.value)
