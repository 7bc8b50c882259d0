"""The MXNet image with a real Docker engine: lint, build, MXNet inside, serve and classify."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import ENGINE, PHOTOS, deploy_stack, needs_engine, needs_models, needs_photos
from helpers import json_lines, run_cli

pytestmark = pytest.mark.slow  # real servers, engines or terminals

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "src/dlworkshop/container").glob("Dockerfile*"))
HADOLINT = ROOT / ".venv-tools/bin/hadolint"


@pytest.mark.skipif(not HADOLINT.exists(), reason="run ./workshop setup first")
def test_hadolint_is_clean_on_every_dockerfile() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile", "Dockerfile.gpu"]
    out = subprocess.run([str(HADOLINT), *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_both_dockerfiles_share_the_requirements_and_name_their_own_mxnet() -> None:
    cpu, gpu = (p.read_text() for p in DOCKERFILES)
    for text, mxnet in ((cpu, "mxnet==1.9.1 "), (gpu, "mxnet-cu117==1.9.1 ")):
        assert f"pip install {mxnet}--requirement /tmp/requirements-serve.txt" in text
        assert "USER 10001:10001" in text and "HEALTHCHECK" in text
    requirements = (ROOT / "src/dlworkshop/container/requirements-serve.txt").read_text()
    assert "mxnet" not in [line.split("=")[0] for line in requirements.splitlines()]


@needs_engine
@needs_models
@needs_photos
def test_the_image_runs_mxnet_and_classifies_chelsea_over_http(image: str) -> None:
    from dlworkshop.container.run import mxnet_version

    assert mxnet_version(ENGINE, image) == "1.9.1"
    from dlworkshop.processes import free_port

    port = free_port()
    container = ENGINE.containers.run(
        image, ["dlworkshop", "serve", "--host", "127.0.0.1", "--port", str(port)],
        detach=True, network_mode="host", remove=False,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ping", timeout=2).json() == {"status": "Healthy"}:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        resp = httpx.post(
            f"{base}/predictions/mobilenetv2-imagenet",
            content=(PHOTOS / "skimage_chelsea.png").read_bytes(),
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["is_cat"] is True
        # Not root inside, and the model was baked in at build time (no network needed).
        assert container.attrs["Config"]["User"] == "10001:10001"
    finally:
        container.remove(force=True)


@needs_engine
def test_a_failed_build_reports_the_engines_error() -> None:
    out = run_cli("--json", "image", "build", "--tag", "dlworkshop/broken:test",
                  "--base-image", "dlworkshop/no-such-base:1")  # fmt: skip
    assert out.returncode == 1
    failed = json_lines(out.stdout)[-1]
    # The engine's own words (here: it cannot reach Docker Hub for the missing base).
    assert failed["type"] == "failed" and failed["message"].startswith("The build failed: ")
    assert "step that failed" in failed["hint"]


@needs_engine
def test_push_streams_layers_and_ends_with_the_digest(image: str, sandbox: dict) -> None:
    from dlworkshop import state as state_store
    from dlworkshop.aws.registry import check_pushed
    from dlworkshop.context import Context
    from dlworkshop.target import SANDBOX, Target

    deploy_stack("push-test")
    out = run_cli("--sandbox", "--json", "image", "push", "--source", image, "--tag", "v1",
                  timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    events = json_lines(out.stdout)
    done = events[-1]
    assert done["type"] == "push_done" and done["tag"] == "v1"
    assert done["digest"].startswith("sha256:") and len(done["digest"]) == 71
    assert done["repository"].endswith(".amazonaws.com/push-test-mxnet")
    layers = [e for e in events if e["type"] == "push_layer"]
    # Every layer ends pushed (or already there), and bytes were counted on the way.
    last = {e["layer"]: e["status"] for e in layers}
    assert last and all(s.startswith(("Pushed", "Layer already exists")) for s in last.values())
    assert any(e["status"] == "Pushing" and 0 < e["current"] <= e["total"] for e in layers)

    # The registry's own API lists the tag ...
    registry = sandbox["registry"]
    tags = httpx.get(f"http://{registry}/v2/push-test-mxnet/tags/list",
                     auth=("AWS", "123456789012-auth-token")).json()  # fmt: skip
    assert "v1" in tags["tags"]
    # ... and so does ECR, under the same digest.
    ctx = Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)
    images = ctx.client("ecr").describe_images(repositoryName="push-test-mxnet")["imageDetails"]
    assert [(i["imageTags"], i["imageDigest"]) for i in images] == [(["v1"], done["digest"])]
    result = check_pushed(ctx)
    assert result.passed and "push-test-mxnet:v1" in result.reason

    # Pushing again changes nothing and says so per layer.
    again = json_lines(run_cli("--sandbox", "--json", "image", "push", "--source", image,
                               "--tag", "v1", timeout=300).stdout)  # fmt: skip
    assert again[-1]["digest"] == done["digest"]
    assert {e["status"] for e in again if e["type"] == "push_layer"} >= {"Layer already exists"}

    # Plain boto3 runs the pushed image as an ECS task: pulled from the sandbox's registry by
    # its ECR name, run on an instance, its output in CloudWatch Logs.
    import boto3

    def plain(service: str):
        return boto3.client(service, endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                            aws_access_key_id="any", aws_secret_access_key="any")  # fmt: skip

    ecs = plain("ecs")
    definition = ecs.register_task_definition(family="mxnet-check", containerDefinitions=[{
        "name": "mxnet", "image": f"{done['repository']}:v1", "memory": 1024,
        "command": ["python", "-c", "import mxnet; print('mxnet', mxnet.__version__)"],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": "/dlworkshop/push-test", "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "check"}}}])["taskDefinition"]  # fmt: skip
    task = ecs.run_task(cluster="push-test-cluster",
                        taskDefinition=definition["taskDefinitionArn"])["tasks"][0]  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        described = ecs.describe_tasks(cluster="push-test-cluster", tasks=[task["taskArn"]])
        if described["tasks"][0]["lastStatus"] == "STOPPED":
            break
        time.sleep(0.5)
    stopped = described["tasks"][0]
    assert stopped["lastStatus"] == "STOPPED", stopped
    assert stopped["containers"][0]["exitCode"] == 0, stopped.get("stoppedReason")
    events = plain("logs").get_log_events(
        logGroupName="/dlworkshop/push-test",
        logStreamName=f"check/mxnet/{task['taskArn'].split('/')[-1]}")["events"]  # fmt: skip
    assert [e["message"] for e in events] == ["mxnet 1.9.1"]


@needs_engine
def test_push_without_a_stack_or_a_registry_says_what_to_do(image: str, sandbox: dict) -> None:
    from dlworkshop import state as state_store

    state_store.update(lambda s: setattr(s, "stack_name", "never-deployed"))
    out = run_cli("--sandbox", "--json", "image", "push", "--source", image)
    assert out.returncode == 1
    assert "There is no stack called never-deployed: deploy it in Lab 1 first." in out.stdout



@needs_engine
def test_push_after_the_registry_died_says_so(image: str) -> None:
    import signal

    from dlworkshop.sandbox import lifecycle

    # A sandbox of this test's own, whose docker-registry then dies.
    info, started = lifecycle.start(owner="test")
    try:
        assert started and info.registry
        deploy_stack("push-no-registry")
        children = subprocess.run(["pgrep", "-P", str(info.pid), "-f", "docker-registry"],
                                  capture_output=True, text=True).stdout.split()  # fmt: skip
        assert children
        os.kill(int(children[0]), signal.SIGKILL)
        time.sleep(1.5)  # the sandbox looks at its registry every half second
        out = run_cli("--sandbox", "--json", "image", "push", "--source", image)
        assert out.returncode == 1
        failed = json_lines(out.stdout)[-1]
        assert failed["type"] == "failed" and "registry exited" in failed["message"]
    finally:
        lifecycle.stop()


@needs_engine
def test_image_shell_runs_a_command_in_the_image(image: str) -> None:
    script = "import mxnet, os; print(mxnet.__version__, os.getuid())"
    out = run_cli("image", "shell", "--tag", image, "--", "python", "-c", script)
    assert out.returncode == 0, out.stderr
    assert "1.9.1 10001" in out.stdout
    failing = run_cli("image", "shell", "--tag", image, "--", "sh", "-c", "exit 3")
    assert failing.returncode == 3


@needs_engine
def test_jupyter_wants_its_random_token_and_serves_the_notebooks(image: str) -> None:
    import re

    from dlworkshop.processes import free_port

    port = free_port()
    container = ENGINE.containers.run(
        image, ["jupyter", "lab", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1"],
        detach=True, network_mode="host",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        token = None
        while token is None and time.monotonic() < deadline:
            found = re.search(r"token=([0-9a-f]+)", container.logs().decode())
            token = found.group(1) if found else time.sleep(0.5)
        assert token and len(token) >= 32  # made at start, never a fixed password
        status = f"http://127.0.0.1:{port}/api/status"
        assert httpx.get(status).status_code == 403
        assert httpx.get(status, headers={"Authorization": "token wrong"}).status_code == 403
        auth = {"Authorization": f"token {token}"}
        assert httpx.get(status, headers=auth).status_code == 200
        listing = httpx.get(f"http://127.0.0.1:{port}/api/contents", headers=auth).json()
        assert "is-this-a-cat.ipynb" in [item["name"] for item in listing["content"]]
    finally:
        container.remove(force=True)


@needs_engine
@needs_photos
def test_the_workshop_notebook_says_chelsea_is_a_cat(image: str) -> None:
    import json

    out = ENGINE.containers.run(
        image, ["jupyter", "nbconvert", "--to", "notebook", "--execute", "--stdout",
                "is-this-a-cat.ipynb"],
        working_dir="/home/app/notebooks", network_mode="none", remove=True, stderr=False,
        environment={"PHOTO": "/photos/skimage_chelsea.png"},
        volumes={str(PHOTOS): {"bind": "/photos", "mode": "ro"}},
    )  # fmt: skip
    notebook = json.loads(out)
    printed = "".join(
        "".join(o.get("text", "")) for cell in notebook["cells"] for o in cell.get("outputs", [])
    )
    assert "MXNet 1.9.1" in printed
    assert "\nCAT (" in printed, printed


@needs_engine
def test_the_training_notebook_trains_loads_the_model_into_the_server_and_asks_it(
        image: str) -> None:  # fmt: skip
    import json

    from dlworkshop.classifier.datasets import DEBIAN_FASHION

    if not DEBIAN_FASHION.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    # The model server (with its management port) beside the notebook, as in the container
    # on an instance; the notebook waits for it, trains, registers and classifies.
    script = ("dlworkshop serve --port 8080 --management-port 8081 >/tmp/serve.log 2>&1 & "
              "jupyter nbconvert --to notebook --execute --stdout train-and-classify.ipynb")
    out = ENGINE.containers.run(
        image, ["sh", "-c", script], working_dir="/home/app/notebooks", network_mode="none",
        remove=True, stderr=False, environment={"DLWORKSHOP_BIND_ADDRESS": "127.0.0.1"},
        volumes={str(DEBIAN_FASHION): {"bind": str(DEBIAN_FASHION), "mode": "ro"}},
    )  # fmt: skip
    notebook = json.loads(out)
    printed = "".join(
        "".join(o.get("text", "")) for cell in notebook["cells"] for o in cell.get("outputs", [])
    )
    assert "epoch 1: loss" in printed and "registered" in printed, printed
    right = int(printed.split(" of 20 right")[0].rsplit("\n", 1)[-1])
    assert right >= 14, printed  # one epoch of the MLP is right about 4 times in 5


def test_a_push_streams_error_detail_is_a_failure() -> None:
    from dlworkshop.container.push import PushLayer, _layer_events
    from dlworkshop.events import Failed

    # The engine's own stream items, as a denied push sends them.
    stream = [
        {"status": "The push refers to repository [127.0.0.1:5000/x]"},
        {"status": "Preparing", "progressDetail": {}, "id": "975481fd8a16"},
        {"status": "Pushing", "progressDetail": {"current": 512, "total": 2048},
         "id": "975481fd8a16"},
        {"errorDetail": {"message": "denied: requested access to the resource is denied"},
         "error": "denied: requested access to the resource is denied"},
        {"status": "never read"},
    ]  # fmt: skip
    events = list(_layer_events(iter(stream)))
    assert [type(e) for e in events] == [PushLayer, PushLayer, Failed]
    assert events[1].current == 512 and events[1].total == 2048 and not events[1].done
    assert events[-1].message == (
        "The push failed: denied: requested access to the resource is denied"
    )


@needs_engine
def test_the_gpu_recipe_builds_on_the_debian_base(image: str) -> None:
    """nvidia/cuda is out of reach here: build Dockerfile.gpu's steps on the sandbox's Debian
    base instead (bookworm has python3.11 and python3.11-venv too); it is not run."""
    from dlworkshop.container.build import DEFAULT_TAG, SANDBOX_BASE

    gpu_tag = "dlworkshop/mxnet:gpu-recipe"
    # The model comes from the CPU image: this module's build is that image.
    ENGINE.images.get(image).tag(*DEFAULT_TAG.split(":"))
    out = run_cli("--json", "image", "build", "--gpu", "--tag", gpu_tag,
                  "--base-image", SANDBOX_BASE, timeout=1800)  # fmt: skip
    try:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
        assert json_lines(out.stdout)[-1]["type"] == "build_done"
        shown = ENGINE.containers.run(
            gpu_tag, ["sh", "-c", "pip show mxnet-cu117 | grep ^Version; id -u; "
                      "ls /opt/cache/dlworkshop/models/mobilenetv2-imagenet"],
            remove=True, network_mode="none",
        ).decode()  # fmt: skip
        assert "Version: 1.9.1" in shown and "10001" in shown
        assert "model-symbol.json" in shown and "model-0000.params" in shown
        config = ENGINE.images.get(gpu_tag).attrs["Config"]
        assert config["Cmd"][:3] == ["dlworkshop", "serve", "--gpu"]
    finally:
        ENGINE.images.remove(gpu_tag, force=True)  # 1.4 GB, mostly mxnet-cu117


@needs_engine
def test_the_current_docker_context_picks_the_engine(image: str, tmp_path: Path) -> None:
    import shutil

    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    config = {**os.environ, "DOCKER_CONFIG": str(tmp_path)}
    engine = config.pop("DOCKER_HOST")  # no DOCKER_HOST: the context alone says where
    for args in (["context", "create", "dlw-test", "--docker", f"host={engine}"],
                 ["context", "use", "dlw-test"]):  # fmt: skip
        subprocess.run(["docker", *args], env=config, check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-m", "dlworkshop", "image", "shell", "--tag", image, "--",
         "python", "-c", "print('via the context')"],
        env=config, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "via the context" in out.stdout
