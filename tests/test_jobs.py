"""Training and prediction as ECS jobs in the sandbox: the tasks really run on its engine,
read the input bucket, write the output bucket with their task role's credentials, and log
to CloudWatch; plus the bad inputs (no photos, a bucket that is not there, a bad option)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from conftest import PHOTOS, needs_engine, needs_models, needs_photos
from helpers import json_lines, run_cli

from dlworkshop import state as state_store
from dlworkshop.aws import jobs
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target

pytestmark = [pytest.mark.slow, needs_engine, needs_models, needs_photos]


def cli(*args: str, timeout: float = 600, ok: bool = True) -> list[dict]:
    out = run_cli("--sandbox", "--json", *args, timeout=timeout)
    if ok:
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    else:
        assert out.returncode == 1, out.stdout[-4000:] + out.stderr[-2000:]
    return json_lines(out.stdout)


@pytest.fixture
def deployed(sandbox: dict, image: str) -> Context:
    """Lab 1 and Lab 2 done headless in a stack of the test's own."""
    state_store.update(lambda s: setattr(s, "stack_name", "jobs-1"))
    cli("stack", "deploy", "--yes", timeout=300)
    cli("image", "push", "--source", image)
    return Context(Target(SANDBOX, endpoint=sandbox["endpoint"]), state_store.load().state)


def s3(sandbox: dict):
    return boto3.client("s3", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def test_train_and_predict_jobs_write_their_results_to_s3(deployed: Context, sandbox: dict,
                                                          tmp_path: Path) -> None:
    buckets = jobs.buckets(deployed)
    # predict before any upload: said clearly, nothing started.
    events = cli("job", "run", "predict", ok=False)
    assert "holds no photos" in events[-1]["message"] and "dlworkshop upload" in events[-1]["hint"]

    # train: one epoch as an ECS task; its log lines arrive while it runs.
    events = cli("job", "run", "train", "--epochs", "1", "--network", "mlp")
    started = next(e for e in events if e["type"] == "job_started")
    run_id, task = started["run_id"], started["task_id"]
    lines = [e["message"] for e in events if e["type"] == "log_line"]
    assert any("Training mlp on fashion-mnist" in m for m in lines), lines
    assert any("Epoch 1/1" in m for m in lines), lines
    running = [e for e in events if e["type"] == "task_state" and e["status"] == "RUNNING"]
    first_line = next(i for i, e in enumerate(events) if e["type"] == "log_line")
    assert running and events.index(running[0]) < first_line  # live, not after the end
    done = events[-1]
    assert done["type"] == "job_finished" and done["run_id"] == run_id
    assert done["results"] == f"s3://{buckets.output}/train/{run_id}/"
    keys = {k.rsplit("/", 1)[-1] for k in done["files"]}
    assert {"model-symbol.json", "model-0000.params", "metrics.json"} <= keys
    metrics = json.loads(s3(sandbox).get_object(
        Bucket=buckets.output, Key=f"train/{run_id}/metrics.json")["Body"].read())
    assert metrics["run_id"] == run_id and metrics["test_accuracy"] > 0.7
    # The task's stream in CloudWatch, read back by run id.
    logs = cli("job", "logs", run_id)
    assert all(e["stream"] == f"train/mxnet/{task}" for e in logs if e["type"] == "log_line")
    assert any("Copied the model to s3://" in e["message"] for e in logs if "message" in e)

    # upload a folder (a cat, a cup of coffee, a broken photo, a note) and predict.
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("skimage_chelsea.png", "skimage_coffee.png"):
        (folder / name).write_bytes((PHOTOS / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not a photo")
    up = cli("upload", str(folder))[-1]
    assert up["type"] == "uploaded" and up["files"] == 3 and len(up["skipped"]) == 1
    assert up["where"] == f"s3://{buckets.input}/uploads/mine/"
    events = cli("job", "run", "predict")
    done = events[-1]
    assert done["type"] == "job_finished", events[-5:]
    body = json.loads(s3(sandbox).get_object(
        Bucket=buckets.output, Key=f"predict/{done['run_id']}/predictions.json")["Body"].read())
    verdicts = {p["source"].rsplit("/", 1)[-1]: p["is_cat"] for p in body["predictions"]}
    assert verdicts == {"skimage_chelsea.png": True, "skimage_coffee.png": False}
    assert [s["source"].rsplit("/", 1)[-1] for s in body["skipped"]] == ["broken.jpg"]

    # list and download.
    listed = {e["run_id"]: e for e in cli("job", "list") if e["type"] == "job"}
    assert listed[run_id]["status"] == "FINISHED" and "test accuracy" in listed[run_id]["summary"]
    assert listed[done["run_id"]]["summary"].startswith("2 photo(s), 1 cat(s), 1 skipped")
    got = cli("job", "get", done["run_id"][:17], "--to", str(tmp_path / "results"))[-1]
    assert got["type"] == "downloaded" and got["files"] == 1
    saved = json.loads((tmp_path / "results" / done["run_id"] / "predictions.json").read_text())
    assert saved == body


def test_an_unfinished_training_result_is_not_listed_as_finished(deployed: Context,
                                                                 sandbox: dict) -> None:
    out = jobs.buckets(deployed).output
    s3(sandbox).put_object(Bucket=out, Key="train/20260101-000000-dead/model-0000.params",
                           Body=b"half")
    listed = {j.run_id: j for j in jobs.listed(deployed)}
    assert listed["20260101-000000-dead"].status == "INCOMPLETE"


def test_bad_jobs_are_refused_before_anything_starts(sandbox: dict) -> None:
    events = cli("job", "run", "train", "--epochs", "0", ok=False)
    assert "--epochs must be at least 1" in events[-1]["message"]
    events = cli("upload", "/nonexistent/photos", ok=False)
    assert "does not exist" in events[-1]["message"]


def test_a_bucket_that_does_not_exist_is_said_before_training(sandbox: dict) -> None:
    env = {"AWS_ENDPOINT_URL": sandbox["endpoint"], "AWS_ACCESS_KEY_ID": "sandbox",
           "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_DEFAULT_REGION": "us-east-1"}
    for args in (["train", "--epochs", "1", "--out", "s3://no-such-bucket-here/train/x/"],
                 ["predict", "--input", "s3://no-such-bucket-here/uploads/", "--out",
                  "/tmp/p.json"]):  # fmt: skip
        out = run_cli("--json", *args, env=env, timeout=120)
        assert out.returncode == 1
        last = json_lines(out.stdout)[-1]
        assert "The bucket no-such-bucket-here does not exist" in last["message"], last
        assert not any(e["type"] == "train_started" for e in json_lines(out.stdout))


async def test_the_lab4_jobs_part_runs_a_training_job_and_stops_one(deployed: Context) -> None:
    from conftest import wait_until
    from textual.widgets import DataTable, Input, Select

    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.jobs import JobsPanel

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.ctx is not None)
        await pilot.press("5")
        panel = app.query_one(JobsPanel)
        app.query_one("#tr-network", Select).value = "mlp"
        app.query_one("#tr-epochs", Input).value = "1"
        app.set_focus(None)
        await pilot.press("j")
        status = app.query_one("#jb-status")
        await wait_until(pilot, lambda: "finished" in str(status.render()), 300)
        assert "test accuracy" in str(status.render())
        table = app.query_one("#jb-table", DataTable)
        await wait_until(pilot, lambda: table.row_count >= 1, 30)
        assert table.get_row_at(0)[1:3] == ["train", "FINISHED"]

        # x stops a running job: its task is stopped and the job is said to have stopped.
        app.query_one("#tr-epochs", Input).value = "30"
        app.set_focus(None)
        await pilot.press("j")
        await wait_until(pilot, lambda: "started" in str(status.render()), 120)
        await pilot.press("x")
        await wait_until(pilot, lambda: not panel.busy, 120)
        assert "stopped" in str(status.render())
        stopped = [j for j in jobs.listed(deployed) if j.status == "STOPPED"]
        assert len(stopped) == 1 and "Stopped from dlworkshop" in stopped[0].summary
        # SIGTERM reached the trainer (an init process is PID 1), not the stop timeout's KILL.
        assert "(exit 137)" not in stopped[0].summary, stopped[0].summary
