"""The app starts light: no heavy SDK is imported before it is needed."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mxnet", "boto3", "botocore", "docker", "asyncssh", "moto")


def test_tui_import_loads_no_heavy_sdk() -> None:
    code = (
        "import sys, dlworkshop.tui.app, dlworkshop.cli.main; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
