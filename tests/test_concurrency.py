"""Two commands at once: one sandbox, one key file, one stack, and no advice to delete it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import json_lines, run_cli

from dlworkshop.sandbox.lifecycle import MARKER

pytestmark = pytest.mark.slow  # real servers, engines or terminals


def _sandboxes(home: Path) -> list[int]:
    """PIDs of sandbox daemons whose home is under this test's home."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if MARKER.encode() in argv and any(str(home).encode() in a for a in argv):
            found.append(int(proc.name))
    return found


def _deploy_twice(stack: str) -> list[tuple[int, list[dict], str]]:
    """Start two `stack deploy` commands together and wait for both."""
    command = [sys.executable, "-m", "dlworkshop", "--sandbox", "--json", "stack", "deploy",
               "--stack", stack]  # fmt: skip
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, env=dict(os.environ))
             for _ in range(2)]  # fmt: skip
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        results.append((proc.returncode, json_lines(out), out + err))
    return results


def test_two_deploys_from_nothing_start_one_sandbox_and_one_key(home: Path) -> None:
    assert _sandboxes(home) == []
    try:
        results = _deploy_twice("twins")
        for rc, _, text in results:
            assert rc == 0, text
            assert "Delete" not in text
        # Exactly one sandbox, the one recorded, and `sandbox stop` stops it.
        running = _sandboxes(home)
        status = json_lines(run_cli("--json", "sandbox", "status").stdout)
        recorded = next(e for e in status if e["type"] == "sandbox_status")
        assert running == [recorded["pid"]]
        # One key pair, created once; its private key written once, never overwritten.
        keys = [next(e for e in events if e["type"] == "key_pair_ready")
                for _, events, _ in results]  # fmt: skip
        assert sorted(k["created"] for k in keys) == [False, True]
        assert {k["name"] for k in keys} == {"twins-key"}
        pems = sorted(p.name for p in (home / "keys").iterdir() if not p.name.startswith("."))
        assert pems == ["us-east-1-twins-key.pem"]
        pem = home / "keys" / pems[0]
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
        assert "PRIVATE KEY" in pem.read_text()
    finally:
        stopped = run_cli("--json", "sandbox", "stop")
    assert stopped.returncode == 0
    assert _sandboxes(home) == []


def test_a_second_deploy_waits_for_the_first_and_never_advises_deleting(sandbox: dict) -> None:
    results = _deploy_twice("pair")
    for rc, events, text in results:
        assert rc == 0, text
        assert not [e for e in events if e["type"] == "failed"], text
        assert "Delete" not in text and "half" not in text
        done = [e for e in events if e["type"] == "stack_done"]
        assert done and done[-1]["status"] == "CREATE_COMPLETE"
    plans = [next(e["action"] for e in events if e["type"] == "stack_plan")
             for _, events, _ in results]  # fmt: skip
    assert "create" in plans
    out = run_cli("--sandbox", "--json", "stack", "delete", "--stack", "pair", "--yes")
    assert out.returncode == 0, out.stdout + out.stderr


def test_reading_a_stack_while_it_is_created_never_breaks_the_create(sandbox: dict) -> None:
    import threading

    from dlworkshop import state as state_store
    from dlworkshop.context import Context
    from dlworkshop.target import SANDBOX, Target

    ctx = Context(Target(SANDBOX, "us-east-1", endpoint=sandbox["endpoint"]),
                  state_store.load().state)  # fmt: skip
    cfn = ctx.client("cloudformation")
    for n in range(4):
        name = f"read-{n}"
        done = threading.Event()
        result: list = []

        def deploy(name: str = name, result: list = result, done=done) -> None:
            result.append(run_cli("--sandbox", "--json", "stack", "deploy", "--stack", name))
            done.set()

        threading.Thread(target=deploy).start()
        while not done.wait(0.002):  # describe as fast as a second deploy or a screen would
            try:
                cfn.describe_stacks(StackName=name)
                cfn.list_stack_resources(StackName=name)
            except Exception as exc:  # not created yet
                assert "does not exist" in str(exc), exc
        assert result[0].returncode == 0, result[0].stdout[-3000:]
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
