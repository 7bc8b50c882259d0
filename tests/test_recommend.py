"""The Appendix's matrix factorisation: offline on a synthetic low-rank matrix with a known
noise floor, it must beat the item-mean baseline clearly and come near the floor."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import json_lines, run_cli

from dlworkshop import checkpoints
from dlworkshop.classifier import recommend


def test_the_synthetic_matrix_is_learned_near_its_noise_floor(home: Path) -> None:
    out = run_cli("--json", "train", "--task", "recommend", "--user", "3", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    events = json_lines(out.stdout)
    started, done = events[0], events[-1]
    assert started["type"] == "recommend_started" and done["type"] == "recommend_done"
    epochs = [e for e in events if e["type"] == "recommend_epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 26))  # one event per epoch
    item_mean = done["baselines"]["item mean"]
    assert done["baselines"]["global mean"] > item_mean  # the baselines are real ones
    assert done["test_rmse"] <= 0.8 * item_mean  # >= 20% better than the item means
    assert done["test_rmse"] < 1.4 * done["noise"]  # near what no model can beat
    data = recommend.synthetic()
    rated = set(data.train[1][data.train[0] == 3].tolist())
    picks = [r["item"] for r in done["recommendations"]]
    assert len(picks) == 10 and not rated & set(picks)  # new items only
    scores = [r["score"] for r in done["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_the_appendix_checkpoint_follows_the_last_run(home: Path) -> None:
    check = checkpoints.get("appendix.mf").resolve()
    assert not check(None).passed
    for _ in recommend.train(epochs=3):
        pass
    result = check(None)
    assert result.passed and "below the item mean" in result.reason


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--user", "100000"], "the users are numbered 0 to 599"),
    (["--dataset", "mnist"], "is an image set"),
])  # fmt: skip
def test_bad_recommend_options_get_one_clear_message(args: list, message: str) -> None:
    out = run_cli("--json", "train", "--task", "recommend", *args)
    assert out.returncode == 1 and message in out.stdout, out.stdout


def test_an_image_task_refuses_a_rating_set() -> None:
    out = run_cli("--json", "train", "--dataset", "synthetic")
    assert out.returncode == 1 and "use it with --task recommend" in out.stdout


async def test_the_appendix_factorises_plots_each_epoch_and_passes_its_checkpoint(
        sandbox: dict) -> None:  # fmt: skip
    from conftest import wait_until
    from textual.widgets import DataTable
    from textual_plotext import PlotextPlot

    from dlworkshop.tui.app import WorkshopApp
    from dlworkshop.tui.widgets.recommender import RecommendPanel

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.ctx is not None)
        await pilot.press("7")
        panel = app.query_one(RecommendPanel)
        await pilot.press("f")
        await wait_until(pilot, lambda: len(panel.epochs) >= 1, 120)
        assert app.query_one(PlotextPlot).display  # drawn from the first epoch on
        table = app.query_one("#mf-recs", DataTable)
        await wait_until(pilot, lambda: table.row_count == 10, 120)
        assert len(panel.epochs) == 25
        await wait_until(pilot, lambda: app.state.results("sandbox").get(
            "appendix.mf", {}).get("status") == "passed", 60)  # fmt: skip
