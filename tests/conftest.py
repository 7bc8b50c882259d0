"""Shared fixtures: an isolated home per test, no real AWS, one real sandbox per session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dlworkshop import state as state_store

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = Path(os.environ.get("DLWORKSHOP_MODEL_MIRROR") or SHARED / "models")
PHOTOS = SHARED / "photos"
needs_models = pytest.mark.skipif(
    not (MODELS / "SOURCES.md").exists(), reason=f"no model mirror at {MODELS}"
)
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"no photos at {PHOTOS}")

AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def _isolate(env: dict[str, str] | os._Environ, home: Path) -> None:
    for name in AWS_VARS:
        env.pop(name, None)
    env["DLWORKSHOP_HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = str(home / "xdg-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-aws-credentials")
    env["AWS_CONFIG_FILE"] = str(home / "no-aws-config")
    # The credential chain must never probe instance metadata from a test.
    env["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture(scope="session")
def sandbox_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One real sandbox (moto server process) shared by the whole session."""
    from dlworkshop.sandbox import lifecycle

    home = tmp_path_factory.mktemp("sandbox-home")
    saved = dict(os.environ)
    _isolate(os.environ, home)
    try:
        info, started = lifecycle.start(owner="tests")
        assert started
    finally:
        os.environ.clear()
        os.environ.update(saved)
    yield info.to_record()
    _isolate(os.environ, home)
    try:
        lifecycle.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the session: models are fetched and converted once."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Path:
    """A fresh DLWORKSHOP_HOME and no AWS credentials for every test."""
    path = tmp_path / "home"
    path.mkdir()
    for name in AWS_VARS:
        monkeypatch.delenv(name, raising=False)
    env: dict[str, str] = {}
    _isolate(env, path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(model_cache))
    monkeypatch.setenv("DLWORKSHOP_MODEL_MIRROR", str(MODELS))
    return path


@pytest.fixture
def sandbox(home: Path, sandbox_info: dict) -> dict:
    """The session's sandbox, recorded in this test's state so the app and CLI reuse it."""

    def record(s: state_store.State) -> None:
        s.sandbox = dict(sandbox_info)

    state_store.update(record)
    return sandbox_info


@pytest.fixture(autouse=True)
def labs_composed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests (pilots and snapshots) start once every lab is in place.

    The app draws its first frame with one lab and composes the others right after; a
    learner's keys wait for them (WorkshopApp.run_action), but a test's queries of a
    hidden lab's widgets would not.
    """
    from dlworkshop.tui.app import WorkshopApp

    run_test, run_async = WorkshopApp.run_test, WorkshopApp.run_async

    @contextlib.asynccontextmanager
    async def composed_run_test(self, *args, **kwargs):
        async with run_test(self, *args, **kwargs) as pilot:
            await asyncio.wait_for(self.labs_composed.wait(), 60)
            await pilot.pause()
            yield pilot

    async def composed_run_async(self, *args, auto_pilot=None, **kwargs):
        async def composed_pilot(pilot):
            await asyncio.wait_for(self.labs_composed.wait(), 60)
            await pilot.pause()
            if auto_pilot is not None:
                await auto_pilot(pilot)

        return await run_async(self, *args, auto_pilot=composed_pilot, **kwargs)

    monkeypatch.setattr(WorkshopApp, "run_test", composed_run_test)
    monkeypatch.setattr(WorkshopApp, "run_async", composed_run_async)


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Let the app run until `condition()` holds (workers post back asynchronously)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


@pytest.fixture
def env_without_sandbox(home: Path) -> dict[str, str]:
    """The environment for a subprocess that uses this test's home."""
    return dict(os.environ)


# ---- the Docker engine (scripts/sandbox-docker.sh) and the image built on it -------------
TAG = "dlworkshop/mxnet:test"


def _engine():
    try:
        import docker

        client = docker.from_env()
        client.ping()
        from dlworkshop.container.build import SANDBOX_BASE

        client.images.get(SANDBOX_BASE)
        return client
    except Exception as exc:  # no engine here: say so, never fake it
        return str(exc)


ENGINE = _engine() if os.environ.get("DOCKER_HOST") else "DOCKER_HOST is not set"
needs_engine = pytest.mark.skipif(
    isinstance(ENGINE, str), reason=f"no Docker engine with the sandbox base image: {ENGINE}"
)


@pytest.fixture(scope="module")
def image() -> str:
    # Module-scoped, so set up before the per-test environment: pass the mirror explicitly.
    from helpers import json_lines, run_cli

    out = run_cli("--json", "image", "build", "--tag", TAG, timeout=1200,
                  env={"DLWORKSHOP_MODEL_MIRROR": str(MODELS)})  # fmt: skip
    events = json_lines(out.stdout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    done = events[-1]
    assert done["type"] == "build_done" and done["tag"] == TAG
    steps = [e for e in events if e["type"] == "build_step"]
    assert steps and steps[-1]["step"] == steps[-1]["total"]
    assert done["size_mb"] < 700  # the target in the issue
    return TAG


def deploy_stack(name: str) -> None:
    """A Lab 1 stack in the sandbox: it owns the ECR repository pushes go to."""
    from dlworkshop import state as state_store

    state_store.update(lambda s: setattr(s, "stack_name", name))
    from helpers import run_cli

    out = run_cli("--sandbox", "--json", "stack", "deploy", "--yes", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
