"""The headless CLI: status, sandbox start|status|stop, JSON lines and clear errors."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest
from helpers import json_lines, run_cli

from dlworkshop.paths import state_file

pytestmark = pytest.mark.slow  # real servers, engines or terminals


def test_help_lists_the_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for word in ("status", "sandbox", "--json", "--profile", "--region"):
        assert word in out.stdout


def test_json_status_against_the_sandbox(sandbox: dict) -> None:
    out = run_cli("--sandbox", "--json", "status")
    assert out.returncode == 0, out.stderr
    events = {e["type"]: e for e in json_lines(out.stdout)}
    assert events["mode_info"]["mode"] == "sandbox"
    assert events["mode_info"]["endpoint"] == sandbox["endpoint"]
    assert events["credentials_info"]["ok"] is True
    assert events["credentials_info"]["account"] == "123456789012"
    assert events["stack_info"]["name"] == "dlworkshop"
    assert events["progress_info"]["total"] >= 10


def test_status_without_a_running_sandbox_says_how_to_start_it() -> None:
    out = run_cli("--sandbox", "--json", "status")
    assert out.returncode == 0
    creds = next(e for e in json_lines(out.stdout) if e["type"] == "credentials_info")
    assert creds["ok"] is False
    assert "dlworkshop sandbox start" in creds["message"]


def test_unknown_profile_and_bad_region_are_explained() -> None:
    out = run_cli("--profile", "nobody", "--json", "status")
    assert out.returncode == 0
    creds = next(e for e in json_lines(out.stdout) if e["type"] == "credentials_info")
    assert creds["ok"] is False and "nobody" in creds["message"]
    assert "Traceback" not in out.stderr
    out = run_cli("--sandbox", "--region", "moon", "status")
    assert out.returncode == 1
    assert "not an AWS region name" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def _spoil(kind: str) -> None:
    """Make state.json unreadable in one of the ways a probe found."""
    if kind == "directory":
        state_file().mkdir()
        (state_file() / "inside").write_text("x")
    elif kind == "deep":
        state_file().write_text("[" * 100_000 + "]" * 100_000)
    else:
        state_file().write_text("{oops")


@pytest.mark.parametrize("kind", ["corrupt", "directory", "deep"])
def test_unreadable_state_is_reported_once(home: Path, kind: str) -> None:
    _spoil(kind)
    first = run_cli("--sandbox", "--json", "status")
    assert first.returncode == 0
    warnings = [e for e in json_lines(first.stdout) if e["type"] == "log"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert list(home.glob("state.json.corrupt-*"))
    assert "Traceback" not in first.stderr
    second = run_cli("--sandbox", "--json", "status")
    assert not [e for e in json_lines(second.stdout) if e["type"] == "log"]
    assert state_file().is_file() or not state_file().exists()


def _port_free(endpoint: str) -> bool:
    url = urlparse(endpoint)
    with socket.socket() as s:
        return s.connect_ex((url.hostname, url.port)) != 0


def test_sandbox_start_status_stop_leaves_nothing_running() -> None:
    started = json_lines(run_cli("--json", "sandbox", "start").stdout)
    status = started[-1]
    assert status["type"] == "sandbox_status" and status["running"] and status["started"]
    pid, endpoint, registry = status["pid"], status["endpoint"], status["registry"]
    assert endpoint.startswith("http://127.0.0.1:")
    assert registry.startswith("127.0.0.1:") or status["registry_note"]

    # A second start reuses the running one.
    again = json_lines(run_cli("--json", "sandbox", "start").stdout)[-1]
    assert again["pid"] == pid and again["started"] is False

    shown = json_lines(run_cli("--json", "sandbox", "status").stdout)
    status = next(e for e in shown if e["type"] == "sandbox_status")
    assert status["running"] and status["endpoint"] == endpoint
    details = shown[-1]
    assert details["type"] == "sandbox_details" and details["instances"] == []
    assert {a["name"] for a in details["agents"]} == {"cloudformation", "account", "ecr", "logs",
                                                      "instances", "tasks"}  # fmt: skip

    ok = run_cli("--sandbox", "--json", "status")
    assert any(e.get("ok") for e in json_lines(ok.stdout) if e["type"] == "credentials_info")

    stopped = run_cli("--json", "sandbox", "stop")
    assert stopped.returncode == 0
    assert json_lines(stopped.stdout)[-1] == {
        "type": "sandbox_status",
        "running": False,
        "endpoint": None,
        "pid": None,
        "owner": None,
        "started": False,
        "registry": "",
        "registry_note": "",
        "stopped_pid": pid,
    }
    assert not Path(f"/proc/{pid}").exists() or "dlworkshop" not in Path(
        f"/proc/{pid}/cmdline"
    ).read_text(errors="replace")
    assert _port_free(endpoint)
    if registry:  # the registry went with the sandbox
        assert _port_free(f"http://{registry}")
    assert json_lines(run_cli("--json", "sandbox", "status").stdout)[-1]["running"] is False


def test_python_dash_m_works() -> None:
    out = run_cli("--sandbox", "status")
    assert out.returncode == 0
    assert "Mode" in out.stdout and "sandbox" in out.stdout


def test_models_alone_lists_the_models() -> None:
    out = run_cli("--json", "models")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mobilenetv2-imagenet" in {e["name"] for e in json_lines(out.stdout)}


def test_classify_fails_when_nothing_was_classified(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    out = run_cli("--json", "classify", str(tmp_path / "missing.jpg"), str(text),
                  "http://no-such-host.invalid/cat.jpg")  # fmt: skip
    assert out.returncode == 1, out.stdout
    events = json_lines(out.stdout)
    skipped = {e["source"]: e["error"] for e in events if e["type"] == "classify_error"}
    assert "does not exist" in skipped[str(tmp_path / "missing.jpg")]
    assert "not an image" in skipped[str(text)]
    assert "could not be found" in skipped["http://no-such-host.invalid/cat.jpg"]
    assert "Errno" not in out.stdout
    assert events[-1]["type"] == "failed" and "Nothing was classified" in events[-1]["message"]


def test_sandbox_stop_says_it_once_and_stack_status_without_a_stack_fails() -> None:
    started = json_lines(run_cli("--json", "sandbox", "start").stdout)[-1]
    status = run_cli("--sandbox", "stack", "status", "--stack", "never-made")
    assert status.returncode == 1 and "no stack called never-made" in status.stdout
    stopped = run_cli("sandbox", "stop")
    assert stopped.returncode == 0
    assert f"stopped (it was PID {started['pid']})" in stopped.stdout
    assert "not running" not in stopped.stdout
