"""The checkpoint registry runs real checks and turns exceptions into reasons."""

from __future__ import annotations

import pytest

from dlworkshop import checkpoints, labs
from dlworkshop.checkpoints import Checkpoint, CheckResult
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.target import SANDBOX, Target

pytestmark = pytest.mark.slow  # real servers, engines or terminals


@pytest.fixture
def ctx() -> Context:
    return Context(Target(SANDBOX))


def test_every_lab_has_guide_and_checkpoints() -> None:
    assert [lab.name for lab in labs.LABS] == [
        "Overview",
        "Lab 1",
        "Lab 2",
        "Lab 3",
        "Lab 4",
        "Cleanup",
        "Appendix",
    ]
    for lab in labs.LABS:
        assert len(lab.guide_text()) > 200
        assert checkpoints.for_lab(lab.id), lab.id


def test_checks_given_as_paths_resolve() -> None:
    cp = checkpoints.get("overview.credentials")
    assert cp.available
    assert callable(cp.resolve())
    assert checkpoints.get("cleanup.empty").available
    assert all(cp.available for lab in ("appendix", "cleanup") for cp in checkpoints.for_lab(lab))


def test_run_reports_pass_fail_and_exceptions(ctx: Context) -> None:
    ok = Checkpoint("t.ok", "t", "ok", lambda c: CheckResult.ok("fine"))
    bad = Checkpoint("t.bad", "t", "bad", lambda c: CheckResult.fail("nope"))

    def boom(c: Context) -> CheckResult:
        raise UserError("The bucket is missing: deploy Lab 1 first.")

    raising = Checkpoint("t.raise", "t", "raise", boom)
    wrong = Checkpoint("t.wrong", "t", "wrong", lambda c: True)
    assert checkpoints.run(ok, ctx) == CheckResult(True, "fine")
    assert checkpoints.run(bad, ctx) == CheckResult(False, "nope")
    assert checkpoints.run(raising, ctx) == CheckResult(
        False, "The bucket is missing: deploy Lab 1 first."
    )
    assert not checkpoints.run(wrong, ctx).passed


def test_sandbox_check_without_sandbox_says_how_to_start_it(ctx: Context) -> None:
    result = checkpoints.run(checkpoints.get("overview.credentials"), ctx)
    assert not result.passed
    assert "dlworkshop sandbox start" in result.reason


def test_register_replaces_and_unregister_removes() -> None:
    checkpoints.register(Checkpoint("t.x", "t", "first"))
    checkpoints.register(Checkpoint("t.x", "t", "second"))
    assert [c.title for c in checkpoints.for_lab("t")] == ["second"]
    checkpoints.unregister("t.x")
    assert checkpoints.for_lab("t") == []
