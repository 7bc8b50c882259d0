"""Distributed training in the sandbox: MXNet's dist_sync parameter server as one ECS task per
container instance (the two sandbox instances), compared with one instance; and the runs
that are refused before anything starts."""

from __future__ import annotations

import json

import boto3
import pytest
from conftest import needs_engine, needs_models
from helpers import json_lines, run_cli

from dlworkshop import checkpoints
from dlworkshop import state as state_store
from dlworkshop.aws import jobs
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target
from dlworkshop.tui.widgets.checkpoints import PASSED


def cli(*args: str, timeout: float = 900, ok: bool = True) -> list[dict]:
    out = run_cli("--sandbox", "--json", *args, timeout=timeout)
    assert out.returncode == (0 if ok else 1), out.stdout[-6000:] + out.stderr[-2000:]
    return json_lines(out.stdout)


@pytest.mark.parametrize(("args", "said"), [
    (("--distributed", "1"), "at least 2"),
    (("--distributed", "2", "--batch-size", "65"), "multiple of"),
    (("--distributed", "2", "--epochs", "0"), "--epochs must be at least 1"),
])  # fmt: skip
def test_bad_distributed_runs_are_refused_before_anything_starts(sandbox: dict, args: tuple,
                                                                 said: str) -> None:  # fmt: skip
    events = cli("train", *args, ok=False)
    assert said in events[-1]["message"], events[-1]
    assert not any(e["type"] == "job_started" for e in events)


def test_a_node_whose_scheduler_cannot_start_fails_at_once_and_says_which_role() -> None:
    """A role that dies (here the scheduler: its port is taken) must end the node, not leave
    its worker waiting for the scheduler forever."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("--json", "train", "--network", "mlp", "--epochs", "1", "--kvstore",
                      "dist_sync", timeout=120, env={
                          "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": str(port),
                          "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "1",
                          "DMLC_NODE_HOST": "127.0.0.1"})  # fmt: skip
    events = json_lines(out.stdout)
    assert out.returncode == 1, out.stdout[-3000:]
    assert "runs the scheduler, a server and a worker" in events[0]["message"]
    assert any("[scheduler 127.0.0.1]" in e.get("message", "") and "bind failed" in e["message"]
               for e in events)  # fmt: skip
    assert events[-1]["type"] == "failed"
    assert "the scheduler exited with code" in events[-1]["message"]


def test_a_killed_node_takes_its_roles_with_it() -> None:
    """A node stopped from outside (SIGKILL: a task stopped, a timeout) leaves no scheduler,
    server or worker behind; here the worker would wait forever for a second one."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from dlworkshop.processes import alive

    env = {**os.environ, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "0",
           "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "2", "DMLC_NODE_HOST": "127.0.0.1"}
    from dlworkshop.processes import free_port

    env["DMLC_PS_ROOT_PORT"] = str(free_port())
    node = subprocess.Popen([sys.executable, "-m", "dlworkshop", "--json", "train", "--network",
                             "mlp", "--kvstore", "dist_sync"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip

    def children() -> list[int]:
        found = []
        for task in Path(f"/proc/{node.pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        return found

    try:
        assert node.stdout is not None and "runs the scheduler" in node.stdout.readline()
        deadline = time.monotonic() + 30
        while len(children()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        roles = children()
        assert len(roles) == 3
    finally:
        node.kill()
        node.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in roles) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in roles)


def test_a_node_without_its_dmlc_environment_says_what_is_missing() -> None:
    out = run_cli("--json", "train", "--kvstore", "dist_sync", timeout=60,
                  env={"DMLC_PS_ROOT_URI": "127.0.0.1"})  # fmt: skip
    assert out.returncode == 1
    message = json_lines(out.stdout)[-1]["message"]
    assert "DMLC_PS_ROOT_PORT" in message and "DMLC_NODE_HOST" in message


def test_the_gpu_checkpoint_says_why_it_cannot_run_in_the_sandbox(sandbox: dict) -> None:
    ctx = Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)
    for recheck in (False, True):
        result = checkpoints.run(checkpoints.get("appendix.gpu"), ctx, recheck=recheck)
        assert not result.passed
        # The sandbox answers the account's GPU quota as 0 because it has no GPU: the
        # check says that, and what to do on AWS.
        assert "may run 0 vCPUs of GPU" in result.reason, result
        assert "sandbox has no GPU" in result.reason and "UseGpu=true" in result.reason


@pytest.mark.slow
@needs_engine
@needs_models
async def test_distributed_training_runs_on_both_instances_and_matches_one(sandbox: dict,
                                                                          image: str) -> None:
    state_store.update(lambda s: setattr(s, "stack_name", "dist-1"))
    cli("stack", "deploy", "--yes", timeout=300)
    cli("image", "push", "--source", image)
    ctx = Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)
    check = checkpoints.get("appendix.dist").resolve()
    assert not check(ctx).passed and "No distributed run yet" in check(ctx).reason

    # The issue's own command line.
    events = cli("train", "--distributed", "2", "--dataset", "fashion-mnist", "--network",
                 "lenet", "--epochs", "2")  # fmt: skip
    # First one instance, as an ordinary training job, to compare with.
    baseline = next(e for e in events if e["type"] == "job_finished")
    ready = next(e for e in events if e["type"] == "baseline_ready")
    assert ready["measured_now"] and ready["run_id"] == baseline["run_id"]
    assert [h["epoch"] for h in ready["history"]] == [1, 2]
    started = next(e for e in events if e["type"] == "distributed_started")
    assert events.index(baseline) < events.index(started)
    nodes = started["nodes"]
    assert len({n["instance_id"] for n in nodes}) == 2
    assert all(n["address"].startswith("127.") for n in nodes)  # loopback instances
    # Each task's CloudWatch lines show its roles; the workers say their rank.
    lines = [e for e in events if e["type"] == "log_line"]
    master, other = (n["task_id"] for n in nodes)
    of = {t: [e["message"] for e in lines if e["stream"] == f"train/mxnet/{t}"]
          for t in (master, other)}  # fmt: skip
    assert any("runs the scheduler, a server and a worker" in m for m in of[master]), of[master]
    assert any("runs a server and a worker" in m for m in of[other]), of[other]
    ranks = {m.split("worker ", 2)[2][:1] for t in of for m in of[t]
             if "] worker " in m and " of 2: Training" in m}  # fmt: skip
    assert ranks == {"0", "1"}, of
    # The workers' progress arrives while they train, each with its own speed.
    statuses = [e for e in events if e["type"] == "worker_status"]
    assert {s["rank"] for s in statuses} == {0, 1}
    assert any(s["state"] == "training" for s in statuses)
    done = events[-1]
    assert done["type"] == "distributed_done", events[-3:]
    assert done["baseline_run"] == baseline["run_id"]
    assert len(done["workers"]) == 2 and all(w["samples_per_s"] > 0 for w in done["workers"])
    # The target: the same test accuracy as one worker with the same total batch.
    assert abs(done["test_accuracy"] - done["baseline_accuracy"]) <= 0.01, done
    assert done["test_accuracy"] > 0.85

    # The model and the comparison are in the output bucket; the checkpoint reads them.
    out = jobs.buckets(ctx).output
    s3 = boto3.client("s3", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                      aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip
    keys = {o["Key"] for o in s3.list_objects_v2(
        Bucket=out, Prefix=f"train/{done['run_id']}/")["Contents"]}  # fmt: skip
    prefix = f"train/{done['run_id']}/"
    assert {prefix + k for k in ("metrics.json", "model-0000.params", "distributed.json",
                                 "workers/0.json", "workers/1.json")} <= keys  # fmt: skip
    summary = json.loads(s3.get_object(Bucket=out, Key=prefix + "distributed.json")["Body"].read())
    assert summary["speedup"] == pytest.approx(done["samples_per_s"]
                                               / done["baseline_samples_per_s"], rel=0.01)
    result = check(ctx)
    assert result.passed and done["run_id"] in result.reason, result

    # One instance is measured once per settings: a second run compares with the first.
    first = cli("train", "--distributed", "2", "--network", "mlp", "--epochs", "1")
    second = cli("train", "--distributed", "2", "--network", "mlp", "--epochs", "1")
    measured = [e for e in first if e["type"] == "job_finished"]
    assert len(measured) == 1 and not any(e["type"] == "job_finished" for e in second)
    assert not next(e for e in second if e["type"] == "baseline_ready")["measured_now"]
    assert second[-1]["type"] == "distributed_done"
    assert second[-1]["baseline_run"] == measured[0]["run_id"]

    # The Appendix does the same with the keyboard: d starts a run (one instance is already
    # measured for mlp, 1 epoch), the table shows both workers, the plot both curves.
    from conftest import wait_until
    from textual.widgets import DataTable, Input, Select

    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.distributed import DistributedPanel

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.ctx is not None)
        await pilot.press("7")
        panel = app.query_one(DistributedPanel)
        panel.query_one("#ds-network", Select).value = "mlp"
        panel.query_one("#ds-epochs", Input).value = "1"
        app.set_focus(None)
        await pilot.press("d")
        status = panel.query_one("#ds-status")
        await wait_until(pilot, lambda: not panel.busy and "x." in str(status.render()), 600)
        assert "samples/s together" in str(status.render()), status.render()
        table = panel.query_one("#ds-workers", DataTable)
        assert table.row_count == 2
        assert {str(table.get_row_at(i)[2]) for i in range(2)} == {"finished"}
        assert panel.shared and panel.baseline  # both curves were drawn
        row = app.view("appendix").checkpoint_list.row("appendix.dist")
        await wait_until(pilot, lambda: row.status == PASSED, 60)
