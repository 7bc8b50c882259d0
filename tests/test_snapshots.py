"""Snapshots of every lab at 120x40 and 80x24, the help screen, and the labs after their
main action (Lab 1 deployed, Lab 2 pushed, Lab 3 running, Lab 4 with a verdict).

What depends on the machine or the moment (ports, task IDs, timings) is set to fixed
values through the screens' own handlers, so the pictures show layout, not luck."""

from __future__ import annotations

import pytest
from conftest import wait_until

from dlworkshop.tui.app import WorkshopApp

pytestmark = pytest.mark.slow  # real servers, engines or terminals

SIZE = (120, 40)
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
ENDPOINT = "http://127.0.0.1:4566"


async def _connected(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.target is not None)
    await pilot.pause()


async def _overview(pilot) -> None:
    from dlworkshop.target import SANDBOX, Target
    from dlworkshop.tui.screens.overview import ConnectionPanel

    await _connected(pilot)
    pilot.app.query_one(ConnectionPanel).show_target(
        Target(SANDBOX, "us-east-1", endpoint=ENDPOINT, why="--sandbox was given"))


async def _lab1(pilot) -> None:
    from textual.widgets import Input

    await _connected(pilot)
    await pilot.press("2")
    view = pilot.app.view("lab1")
    await wait_until(pilot, lambda: view._defaults_ready)
    view.query_one("#l1-cidr-note").update("your public IP, from the sandbox")
    assert view.query_one("#l1-cidr", Input).value == "127.0.0.1/32"
    # The session's sandbox may hold a "dlworkshop" stack from another test, whose spend
    # Lab 1 would show: the snapshots look at a name no test deploys.
    view.query_one("#l1-stack", Input).value = "snapshot"
    view.update_cost()
    await wait_until(pilot, lambda: "/hour" in str(view.query_one("#l1-cost").render()))
    await pilot.pause(0.3)


def _guide_read(view) -> None:
    """The learner has read the guide (it opens expanded on a first visit) and closed it."""
    from textual.widgets import Collapsible

    view.query_one(".guide-box", Collapsible).collapsed = True


async def _lab1_deployed(pilot) -> None:
    from dlworkshop.aws.stack import StackDone
    from dlworkshop.aws.stack_events import ResourceEvent
    from dlworkshop.tui.screens.lab1 import StackEvent

    await _lab1(pilot)
    view = pilot.app.view("lab1")
    _guide_read(view)
    for logical, kind, physical in (
        ("Vpc", "AWS::EC2::VPC", "vpc-0123456789abcdef0"),
        ("InstanceSecurityGroup", "AWS::EC2::SecurityGroup", "sg-0123456789abcdef0"),
        ("InputBucket", "AWS::S3::Bucket", "dlworkshop-inputbucket-abc123"),
        ("Repository", "AWS::ECR::Repository", "dlworkshop-mxnet"),
        ("Cluster", "AWS::ECS::Cluster", "dlworkshop-cluster"),
        ("AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup", "dlworkshop-asg"),
    ):  # fmt: skip
        view.on_stack_event(StackEvent(ResourceEvent(logical, kind, "CREATE_COMPLETE", "",
                                                     physical)))  # fmt: skip
    view.on_stack_event(StackEvent(StackDone("dlworkshop", "CREATE_COMPLETE", {
        "ClusterName": "dlworkshop-cluster",
        "RepositoryUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dlworkshop-mxnet",
        "InputBucketName": "dlworkshop-inputbucket-abc123",
        "LogGroupName": "/dlworkshop/dlworkshop"})))  # fmt: skip


async def _lab2_pushed(pilot) -> None:
    from dlworkshop.container.push import PushDone, PushLayer
    from dlworkshop.tui.screens.lab2 import WorkEvent

    await _connected(pilot)
    await pilot.press("3")
    view = pilot.app.view("lab2")
    for event in (
        PushLayer("5d41402abc4b", "Pushed", 52_428_800, 52_428_800),
        PushLayer("7d793037a076", "Layer already exists"),
        PushDone("123456789012.dkr.ecr.us-east-1.amazonaws.com/dlworkshop-mxnet", "latest",
                 "sha256:" + "0123456789abcdef" * 4, 12.0),
    ):  # fmt: skip
        view.on_work_event(WorkEvent(event))


async def _lab4(pilot, verdict: bool = False) -> None:
    from dlworkshop.classifier.classify import Classified

    await _connected(pilot)
    view = pilot.app.view("lab4")
    view._server_requested = True  # no model server for a picture: a fixed endpoint instead
    await pilot.press("5")
    view.set_endpoint("http://127.0.0.1:8080", "started by this app")
    if verdict:
        _guide_read(view)
        view._show(Classified("skimage_chelsea.png", True, 0.997437, [
            {"label": "tiger cat", "probability": 0.62},
            {"label": "tabby, tabby cat", "probability": 0.31},
            {"label": "Egyptian cat", "probability": 0.06},
            {"label": "lynx, catamount", "probability": 0.002},
            {"label": "Persian cat", "probability": 0.001},
        ], "mobilenetv2-imagenet"), None)  # fmt: skip


async def _lab4_verdict(pilot) -> None:
    await _lab4(pilot, verdict=True)


def _press(key: str):
    async def run_before(pilot) -> None:
        await _connected(pilot)
        await pilot.press(key)

    return run_before


async def _lab2_gone(pilot) -> None:
    """Lab 2's passes after the stack (and its repository) was deleted: shown as gone."""
    from dlworkshop import state as state_store
    from dlworkshop.tui.widgets.checkpoints import CheckpointRow

    app = pilot.app
    await _connected(pilot)

    def passed(s: state_store.State) -> None:
        # Not lab2.built: whether an image exists depends on which tests ran before. And
        # a stack name no test deploys: the shared sandbox may hold a "dlworkshop" one.
        s.stack_name = "snapshot"
        for cp in ("overview.credentials", "lab2.pushed"):
            s.record("sandbox", cp, True, "passed before")

    passed(app.state)
    state_store.update(passed)
    app.refresh_subtitle()
    await pilot.press("3")
    app.recheck_passes(["lab2"])
    row = app.query_one("#cp-lab2-pushed", CheckpointRow)
    await wait_until(pilot, lambda: row.status == "gone")
    await pilot.pause()


async def _lab4_training(pilot) -> None:
    """Lab 4's Train part after three epochs of a run (events as the process sends them)."""
    from textual.widgets import Collapsible

    from dlworkshop.tui.widgets.training import TrainLine, TrainPanel

    await _lab4(pilot)
    pilot.app.query_one("#l4-train-box", Collapsible).collapsed = False
    panel = pilot.app.query_one(TrainPanel)
    panel.on_train_line(TrainLine({"type": "train_started", "network": "lenet",
                                   "dataset": "fashion-mnist", "train_samples": 60000,
                                   "threads": 2}))  # fmt: skip
    for epoch, (loss, acc) in enumerate(((0.52, 0.86), (0.33, 0.88), (0.29, 0.895)), 1):
        panel.on_train_line(TrainLine({"type": "epoch_done", "epoch": epoch, "epochs": 5,
                                       "loss": loss, "val_accuracy": acc,
                                       "samples_per_s": 4100.0, "eta_s": 30.0}))  # fmt: skip
    panel.on_train_line(TrainLine({"type": "train_progress", "epoch": 4, "epochs": 5,
                                   "batch": 400, "batches": 937, "loss": 0.27,
                                   "samples_per_s": 4100.0, "eta_s": 23.0}))  # fmt: skip
    await pilot.pause()
    pilot.app.query_one("#l4-train-box").scroll_visible(animate=False)
    await pilot.pause()


async def _cleanup_done(pilot) -> None:
    """A cleanup's log and its summary: one thing left, and what the workshop cost."""
    from dlworkshop.aws.cleanup import CleanupStep, CleanupSummary, Leftover
    from dlworkshop.tui.screens.cleanup import CleanupEvent, CleanupView

    await _connected(pilot)
    await pilot.press("6")
    view = pilot.app.query_one(CleanupView)
    left = Leftover("EC2 instance", "i-0abc", "terminate it (EC2 console, or `aws ec2 "
                    "terminate-instances`)")  # fmt: skip
    steps = [CleanupStep("ECS task", "1f2e3d4c", "stopped", "i-0abc"),
             CleanupStep("stack", "dlworkshop", "deleted", "with its buckets"),
             CleanupStep("key pair", "dlworkshop-key", "kept", "as asked"), left]  # fmt: skip
    for event in steps:
        view.on_cleanup_event(CleanupEvent(event))
    view.on_cleanup_event(CleanupEvent(CleanupSummary(
        "dlworkshop", False, [steps[0].to_dict(), steps[1].to_dict()], [left.to_dict()],
        {"dollars": 0.75, "hours": 3.0, "source": "bundled us-east-1 prices of 2025-01"})))
    await pilot.pause()


LABS = {
    "overview": _overview,
    "lab1": _lab1,
    "lab1_deployed": _lab1_deployed,
    "lab2": _press("3"),
    "lab2_pushed": _lab2_pushed,
    "lab4": _lab4,
    "lab4_verdict": _lab4_verdict,
    "lab4_training": _lab4_training,
    "lab2_gone": _lab2_gone,
    "cleanup": _press("6"),
    "cleanup_done": _cleanup_done,
    "appendix": _press("7"),
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lab", list(LABS))
def test_every_lab_at_both_sizes(snap_compare, sandbox: dict, lab: str, size: str) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), terminal_size=SIZES[size],
                        run_before=LABS[lab])  # fmt: skip


def test_navigator_on_lab2(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3"], terminal_size=SIZE)


def test_help_screen(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), press=["3", "question_mark"], terminal_size=SIZE)


def _lab3_with_a_running_task(pilot) -> None:
    """Lab 3 as it looks once deployed and tunnelled: fixed events through the screen's
    own handler, so that the picture does not depend on task IDs, ports or timing."""
    from dlworkshop.aws.tasks import TaskState
    from dlworkshop.remote.forwards import TunnelOpen
    from dlworkshop.remote.instances import Reach
    from dlworkshop.tui.screens.lab3 import WorkEvent

    view = pilot.app.view("lab3")
    view.query_one("#l3-tasks").display = True
    view.query_one("#l3-matrix").display = True
    master, secondary = "i-0123456789abcdef0", "i-0fedcba9876543210"
    for event in (
        TaskState("98337f03-1111-2222-3333-444455556666", master, "127.0.10.1", "RUNNING",
                  "RUNNING", "HEALTHY", [], "", "dlworkshop-serve"),
        TaskState("c5974c53-1111-2222-3333-444455556666", secondary, "127.0.10.2", "RUNNING",
                  "RUNNING", "HEALTHY", [], "", "dlworkshop-serve"),
        TunnelOpen(master, "127.0.10.1:22", "SHA256:AbCdEf0123456789", True,
                   {"8080": "http://127.0.0.1:41001",
                    "8888": "http://127.0.0.1:41002/lab?token=0123456789abcdef"}),
        Reach(master, secondary, "127.0.10.2", 22, True, 0.4),
        Reach(master, secondary, "127.0.10.2", 8080, True, 0.6),
    ):  # fmt: skip
        view.on_work_event(WorkEvent(event))


def test_lab3_with_a_running_task(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), terminal_size=SIZE,
                        run_before=_press_then(_lab3_with_a_running_task))  # fmt: skip


def test_lab3_with_a_running_task_at_80x24(snap_compare, sandbox: dict) -> None:
    assert snap_compare(WorkshopApp(sandbox=True), terminal_size=(80, 24),
                        run_before=_press_then(_lab3_with_a_running_task))  # fmt: skip


def _press_then(fill):
    async def run_before(pilot) -> None:
        await pilot.press("4")
        await pilot.pause()
        fill(pilot)
        await pilot.pause()

    return run_before
