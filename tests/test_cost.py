"""The cost estimate, the vCPU pre-flight, and the Lab 1 form that shows the estimate."""

from __future__ import annotations

import pytest
from conftest import wait_until

from dlworkshop.aws import cost, quotas
from dlworkshop.context import Context
from dlworkshop.target import SANDBOX, Target


def params(kind: str = "m5.large", count: str = "2", spot: str = "false") -> dict[str, str]:
    return {"InstanceType": kind, "InstanceCount": count, "UseSpot": spot}


def test_the_bundled_table_prices_every_type_the_template_offers() -> None:
    from dlworkshop.cfn import template

    offered = template.parameters()["InstanceType"].allowed_values
    table = cost.table()
    assert table["as_of"] and table["region"] == "us-east-1"
    assert set(offered) == set(table["instances"])
    for info in table["instances"].values():
        assert 0 < info["spot"] < info["on_demand"] and info["vcpus"] >= 2


def test_the_estimate_follows_type_count_and_spot() -> None:
    base = cost.estimate(None, params())
    # 2 x m5.large On-Demand dominate: 2 x 0.096 $/h, plus volumes, addresses and logs.
    assert 0.19 < base.per_hour < 0.3 and base.workshop == round(base.per_hour * 3, 2)
    assert "bundled us-east-1 prices" in base.source
    assert cost.estimate(None, params(count="3")).per_hour > base.per_hour
    assert cost.estimate(None, params(spot="true")).per_hour < base.per_hour
    assert cost.estimate(None, params("p3.2xlarge")).per_hour > 6
    assert cost.estimate(None, params("x9.huge")).lines[0][1] == 0
    assert sum(c for _, c in base.lines) == pytest.approx(base.per_hour, abs=1e-3)


@pytest.mark.slow
def test_the_sandbox_has_no_market_and_says_so_quickly(sandbox: dict) -> None:
    import time

    cost._LIVE.clear()
    ctx = Context(Target(SANDBOX, endpoint=sandbox["endpoint"]))
    start = time.monotonic()
    for spot in ("false", "true"):
        guess = cost.estimate(ctx, params(spot=spot))
        assert guess.source.startswith("bundled us-east-1 prices")
    assert time.monotonic() - start < 10  # refused at once, not after a read timeout


@pytest.mark.slow
def test_the_preflight_knows_the_vcpu_quotas(sandbox: dict) -> None:
    ctx = Context(Target(SANDBOX, endpoint=sandbox["endpoint"]))
    ok = quotas.check_vcpus(ctx, "m5.large", 2, False)
    assert ok.ok and ok.needed == 4 and ok.allowed == 32
    gpu = quotas.check_vcpus(ctx, "g4dn.xlarge", 1, False)
    assert not gpu.ok and gpu.allowed == 0 and "Service Quotas" in gpu.message
    too_many = quotas.check_vcpus(ctx, "m5.2xlarge", 4, True)
    assert too_many.ok and too_many.needed == 32  # exactly at the Spot quota


@pytest.mark.slow
async def test_the_lab1_form_shows_the_cost_and_follows_the_form(sandbox: dict) -> None:
    from textual.widgets import Input, Static, Switch

    from dlworkshop.tui.app import WorkshopApp

    app = WorkshopApp(sandbox=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        box = app.query_one("#l1-cost", Static)

        def shown() -> str:
            return str(box.render())

        def hourly(kind: str = "m5.large", count: str = "2", spot: str = "false") -> str:
            return f"${cost.estimate(None, params(kind, count, spot)).per_hour:.2f}/hour"

        await wait_until(pilot, lambda: hourly() in shown())
        assert "for a 3-hour workshop" in shown() and "bundled" in shown()
        app.query_one("#l1-count", Input).value = "4"
        await wait_until(pilot, lambda: hourly(count="4") in shown())
        app.query_one("#l1-spot", Switch).value = True
        await wait_until(pilot, lambda: hourly(count="4", spot="true") in shown())
        app.query_one("#l1-type", Input).value = "c5.2xlarge"
        await wait_until(pilot, lambda: hourly("c5.2xlarge", "4", "true") in shown())
        app.query_one("#l1-type", Input).value = "nonsense"
        await wait_until(pilot, lambda: "No price known for nonsense" in shown())
