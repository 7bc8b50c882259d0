"""Helpers for running the real commands in subprocesses."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib


def run_cli(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m dlworkshop ARGS` with this test's environment (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "dlworkshop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def json_lines(text: str) -> list[dict]:
    """Parse JSON-lines output; every line must be an object with a "type"."""
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert events and all(isinstance(e, dict) and "type" in e for e in events), text
    return events


def huge_png(side: int = 30000, height: int | None = None) -> bytes:
    """A tiny file whose header claims side x side (or x height) pixels: a bomb."""
    height = side if height is None else height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", side, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + side * 3) * min(4, height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
