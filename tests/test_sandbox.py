"""Sandbox lifecycle: stale records, strangers at a recorded PID, the moto endpoint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from dlworkshop import state as state_store
from dlworkshop.context import Context
from dlworkshop.sandbox import lifecycle
from dlworkshop.target import SANDBOX, Target

needs_registry = pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="Debian's docker-registry is not installed"
)


def _record(**fields) -> None:
    state_store.update(lambda s: setattr(s, "sandbox", fields))


def test_a_stale_record_is_not_a_running_sandbox() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _record(pid=dead.pid, endpoint="http://127.0.0.1:9", started_at=0, owner="cli", log="")
    assert lifecycle.current() is None


def test_a_stranger_at_the_recorded_pid_is_not_ours(sandbox: dict) -> None:
    # Something else holds a live PID (and the endpoint answers): still not our sandbox.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _record(pid=stranger.pid, endpoint=sandbox["endpoint"], started_at=0, owner="x", log="")
        assert lifecycle.current() is None
        lifecycle.stop()  # must not kill the stranger
        time.sleep(0.2)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_the_session_factory_talks_to_moto(sandbox: dict) -> None:
    ctx = Context(Target(SANDBOX, "eu-west-1", endpoint=sandbox["endpoint"]))
    sts = ctx.client("sts")
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert ctx.client("sts") is sts  # cached per thread
    assert ctx.client("ec2").meta.region_name == "eu-west-1"

    seen = []

    import threading

    thread = threading.Thread(target=lambda: seen.append(ctx.client("sts")))
    thread.start()
    thread.join()
    assert seen[0] is not sts  # another thread gets its own session and client


def test_a_sandbox_started_for_an_owner_dies_with_it() -> None:
    from dlworkshop import processes

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        info, started = lifecycle.start(owner="test", owner_pid=owner.pid)
        assert started and lifecycle.current() is not None
        owner.kill()  # the app is killed and cannot clean up
        owner.wait()
        deadline = time.monotonic() + 20
        while processes.is_ours(info.pid, lifecycle.MARKER) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not processes.is_ours(info.pid, lifecycle.MARKER)
        assert lifecycle.current() is None
    finally:
        owner.kill()
        lifecycle.stop()


@needs_registry
def test_the_registry_takes_ecrs_token_and_nothing_else(sandbox: dict) -> None:
    import base64

    import httpx

    from dlworkshop.aws.session import SessionFactory

    assert sandbox["registry"].startswith("127.0.0.1:"), sandbox.get("registry_note")
    ecr = SessionFactory(Target(SANDBOX, endpoint=sandbox["endpoint"])).client("ecr")
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    url = f"http://{sandbox['registry']}/v2/"
    assert httpx.get(url, auth=(user, password)).status_code == 200
    assert httpx.get(url, auth=(user, password + "x")).status_code == 401
    assert httpx.get(url).status_code == 401


@needs_registry
def test_the_registry_goes_when_the_sandbox_is_killed() -> None:
    import os
    import signal

    from dlworkshop.sandbox import registry

    info, started = lifecycle.start(owner="test")
    try:
        assert started and info.registry
        assert registry._answers(info.registry)
        os.kill(info.pid, signal.SIGKILL)  # no cleanup can run
        deadline = time.monotonic() + 20
        while registry._answers(info.registry) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not registry._answers(info.registry)
    finally:
        lifecycle.stop()
