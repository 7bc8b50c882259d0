"""Lab 3 headless against the sandbox: deploy the pushed image with ECS, tunnel to it over
SSH (model server and Jupyter), follow its logs, check the mesh, survive a dropped
connection, and refuse a changed host key or a wrong key."""

from __future__ import annotations

import queue
from pathlib import Path

import httpx
import pytest
from conftest import PHOTOS, needs_engine, needs_models, needs_photos
from helpers import json_lines, run_cli

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target

pytestmark = [pytest.mark.slow, needs_engine, needs_models, needs_photos]
NAMES = iter(range(1, 100))


def context(sandbox: dict) -> Context:
    return Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)


def cli(*args: str, timeout: float = 300) -> list[dict]:
    out = run_cli("--sandbox", "--json", *args, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return json_lines(out.stdout)


@pytest.fixture
def deployed(sandbox: dict, image: str) -> Context:
    """Lab 1 and Lab 2 done headless: a stack (and key pair) of the test's own, and the
    image pushed to its ECR."""
    name = f"lab3-{next(NAMES)}"
    state_store.update(lambda s: setattr(s, "stack_name", name))
    cli("stack", "deploy", "--yes")
    cli("image", "push", "--source", image, timeout=600)
    return context(sandbox)


def test_lab3_headless_deploy_tunnel_jupyter_logs_and_mesh(deployed: Context) -> None:
    # deploy: a task definition pinned to the pushed digest, one task RUNNING per instance.
    events = cli("deploy")
    ready = next(e for e in events if e["type"] == "task_definition_ready")
    stack = deployed.state.stack_name
    assert ready["family"] == f"{stack}-serve" and "@sha256:" in ready["image"]
    container = ready["definition"]["containerDefinitions"][0]
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/dlworkshop/{stack}"
    assert container["healthCheck"]["command"][0] == "CMD-SHELL"
    assert "resourceRequirements" not in container  # not a GPU instance type
    assert events[-1]["type"] == "tasks_ready" and len(events[-1]["tasks"]) == 2
    states = {e["task_id"]: e for e in events if e["type"] == "task_state"}
    assert {s["status"] for s in states.values()} == {"RUNNING"}
    assert len({s["instance_id"] for s in states.values()}) == 2
    # Deploying again registers nothing new and follows the running tasks.
    again = cli("deploy")
    assert not next(e for e in again if e["type"] == "task_definition_ready")["registered"]
    assert again[-1]["tasks"] == events[-1]["tasks"]

    # Jupyter as a second task definition, beside the model server.
    assert cli("deploy", "--jupyter")[-1]["type"] == "tasks_ready"

    # The tunnel: /ping Healthy, Chelsea is a cat, Jupyter wants its token.
    from dlworkshop.remote import forwards

    ctx = context_of(deployed)
    tunnel, opened = forwards.open_tunnel(ctx)
    try:
        server = opened.urls["8080"]
        assert httpx.get(f"{server}/ping", timeout=10).json() == {"status": "Healthy"}
        photo = (PHOTOS / "skimage_chelsea.png").read_bytes()
        verdict = httpx.post(f"{server}/predictions/mobilenetv2-imagenet", content=photo,
                             timeout=60).json()  # fmt: skip
        assert verdict["is_cat"]
        jupyter = opened.urls["8888"]
        assert "/lab?token=" in jupyter
        base, token = jupyter.split("/lab?token=")
        assert httpx.get(f"{base}/api/contents", params={"token": token}).status_code == 200
        assert httpx.get(f"{base}/api/contents").status_code == 403

        # Lab 4 now classifies through the tunnel; every Lab 3 checkpoint passes.
        from dlworkshop.classifier import checks

        ctx = context_of(deployed)
        assert checks.endpoint(ctx) == server
        assert checks.check_sample_cat(ctx).passed
        results = {cp.id: checkpoints.run(cp, ctx) for cp in checkpoints.for_lab("lab3")}
        assert all(r.passed for r in results.values()), results
    finally:
        tunnel.close()
        forwards.forget()

    # `dlworkshop tunnel` holds the forwards until Ctrl+C, then forgets them.
    import signal
    import subprocess
    import sys

    held = subprocess.Popen([sys.executable, "-m", "dlworkshop", "--sandbox", "--json", "tunnel",
                             "--port", "8080"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert held.stdout is not None
        opened_line = json_lines(held.stdout.readline())[0]
        assert opened_line["type"] == "tunnel_open"
        url = opened_line["urls"]["8080"]
        assert httpx.get(f"{url}/ping", timeout=10).json() == {"status": "Healthy"}
        held.send_signal(signal.SIGINT)
        assert held.wait(30) == 0
    finally:
        held.kill()
    assert "tunnel" not in state_store.load().state.services

    # The server's start-up lines, from CloudWatch.
    lines = [e["message"] for e in cli("logs", "--since", "30m") if e["type"] == "log_line"]
    assert any("Serving mobilenetv2-imagenet" in line for line in lines)
    # Jupyter's log shows where its token was, never the token itself.
    lines = [e["message"] for e in cli("logs", "--jupyter", "--since", "30m")
             if e["type"] == "log_line"]  # fmt: skip
    assert any("token=[secret]" in line for line in lines)
    assert not any(token in line for line in lines)

    # The mesh: the master reaches the secondary on 22 and 8080.
    reach = [e for e in cli("mesh") if e["type"] == "reach"]
    assert {(r["port"], r["ok"]) for r in reach} == {(22, True), (8080, True)}

    # Stop: nothing of the workshop runs any more; the running check says so.
    cli("deploy", "--stop")
    assert not checkpoints.run(checkpoints.get("lab3.running"), context_of(deployed)).passed


def context_of(ctx: Context) -> Context:
    """The same target with the state as saved now."""
    return Context(ctx.target, state_store.load().state)


def test_the_tunnel_comes_back_on_the_same_port(deployed: Context) -> None:
    import boto3

    from dlworkshop.remote import forwards, instances

    cli("deploy")
    ctx = context_of(deployed)
    master = instances.listed(ctx)[0]
    tunnel, opened = forwards.open_tunnel(ctx, master.instance_id, (8080,))
    changes: queue.Queue[str] = queue.Queue()
    tunnel.keep(changes.put)
    url = opened.urls["8080"]
    ec2 = boto3.client("ec2", endpoint_url=ctx.target.endpoint, region_name="us-east-1",
                       aws_access_key_id="any", aws_secret_access_key="any")  # fmt: skip
    try:
        assert httpx.get(f"{url}/ping", timeout=10).status_code == 200
        # The instance stops: its SSH endpoint closes every connection.
        ec2.stop_instances(InstanceIds=[master.instance_id])
        assert changes.get(timeout=20).startswith("lost")
        ec2.start_instances(InstanceIds=[master.instance_id])
        assert changes.get(timeout=60) == "reconnected"
        # Its task stopped with it, as on AWS; run it again and the same URL answers.
        stopped = [e for e in cli("deploy") if e["type"] == "task_state"]
        assert {e["status"] for e in stopped} >= {"RUNNING"}
        assert httpx.get(f"{url}/ping", timeout=10).json() == {"status": "Healthy"}
    finally:
        tunnel.close()
        forwards.forget()
        cli("deploy", "--stop")


def test_a_changed_host_key_or_a_wrong_key_is_refused_clearly(deployed: Context,
                                                              tmp_path: Path) -> None:  # fmt: skip
    import asyncssh

    from dlworkshop.errors import UserError
    from dlworkshop.remote import forwards, instances
    from dlworkshop.remote.tunnel import known_hosts_file

    ctx = context_of(deployed)
    master = instances.listed(ctx)[0]
    name = master.target().known_hosts_name
    forged = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known_hosts_file().write_text(f"{name} {forged}\n")
    with pytest.raises(UserError, match="not the one seen before"):
        forwards.open_tunnel(ctx, master.instance_id, (8080,))

    known_hosts_file().write_text("")
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    stranger.chmod(0o600)
    state_store.update(lambda s: setattr(s, "key_path", str(stranger)))
    with pytest.raises(UserError, match="refused"):
        forwards.open_tunnel(context_of(deployed), master.instance_id, (8080,))


def test_ssh_runs_a_command_on_the_instance(deployed: Context) -> None:
    out = run_cli("--sandbox", "ssh", "--", "echo", "on", "$HOSTNAME", timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    first = _first_address(deployed)
    assert f"on ip-{first.replace('.', '-')}" in out.stdout


def _first_address(ctx: Context) -> str:
    from dlworkshop.remote import instances

    return instances.listed(context_of(ctx))[0].public


def test_deploy_without_a_pushed_image_says_what_to_do(sandbox: dict) -> None:
    state_store.update(lambda s: setattr(s, "stack_name", "lab3-empty"))
    cli("stack", "deploy", "--yes")
    out = run_cli("--sandbox", "--json", "deploy", timeout=120)
    assert out.returncode == 1
    assert "has no image yet: push it in Lab 2 first" in json_lines(out.stdout)[-1]["message"]
    # The checkpoint says what comes first.
    assert "push it in Lab 2 first" in checkpoints.run(
        checkpoints.get("lab3.taskdef"), context(sandbox)).reason  # fmt: skip


async def test_the_lab3_screen_reaches_4_of_4_with_the_keyboard(deployed: Context) -> None:
    from conftest import wait_until
    from textual.widgets import DataTable, Log, Static

    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.checkpoints import PASSED

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.ctx is not None)
        await pilot.press("4")
        view = app.view("lab3")
        # Where to deploy: every instance, or one of the two.
        from textual.widgets import Select

        choice = view.query_one("#l3-where", Select)
        await wait_until(pilot, lambda: len(choice._options) == 3, timeout=30)
        # The lab's keys are in the footer only while it is shown.
        assert app.check_action("lab_key", ("lab3", "deploy"))
        assert not app.check_action("lab_key", ("lab2", "deploy"))
        await pilot.press("d")
        tasks = view.query_one("#l3-tasks", DataTable)

        def healthy() -> bool:
            return tasks.row_count == 2 and all(
                "healthy" in str(tasks.get_row_at(i)[2]) for i in range(2))  # fmt: skip

        status = view.query_one("#l3-status", Static)
        try:
            await wait_until(pilot, healthy, timeout=180)
        except AssertionError:  # say what the screen and ECS said
            from dlworkshop.aws import tasks as ecs_tasks

            rows = [tasks.get_row_at(i) for i in range(tasks.row_count)]
            stopped = ecs_tasks.listed(context_of(deployed), status="STOPPED")
            raise AssertionError(f"{status.render()} {rows} {stopped}") from None
        await pilot.press("t")
        panel = view.query_one("#l3-tunnel-panel", Static)
        await wait_until(pilot, lambda: "Model server" in str(panel.render()), timeout=60)
        await pilot.press("m")
        matrix = view.query_one("#l3-matrix", DataTable)
        await wait_until(pilot, lambda: matrix.row_count == 2, timeout=60)
        rows = view.checkpoint_list
        await wait_until(pilot, lambda: all(rows.row(cp).status == PASSED for cp in (
            "lab3.taskdef", "lab3.running", "lab3.tunnel", "lab3.mesh")), timeout=120)  # fmt: skip
        # Lab 4 now classifies through the tunnel.
        assert app.view("lab4").endpoint == view.tunnel_urls["8080"]
        # The log pane follows CloudWatch and filters by what is typed.
        await pilot.press("l")
        pane = view.query_one("#l3-log", Log)
        await wait_until(pilot, lambda: any("Serving" in line for line in pane.lines), 60)
        view.add_log_lines([f"noise {i}" for i in range(100_000)])  # stays responsive
        await pilot.pause()
        search = view.query_one("#l3-search")
        search.focus()
        await pilot.press(*"Serving", "enter")
        assert all("Serving" in line for line in pane.lines) and pane.lines
        await pilot.press("escape")
        app.set_focus(None)
        await pilot.press("s")
        await wait_until(pilot, lambda: "Stopped" in str(view.query_one("#l3-status",
                                                                        Static).render()), 60)
