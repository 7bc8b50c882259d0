"""What the workshop costs: an estimate before deploying, and what was spent since."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from dlworkshop.context import Context
from dlworkshop.events import Event

WORKSHOP_HOURS = 3.0
HOURS_PER_MONTH = 730.0
# What a workshop stores and logs, for the storage lines (small next to the instances).
VOLUME_GB = 60  # the launch template's gp3 root volume per instance
S3_GB, ECR_GB, LOGS_GB = 1.0, 1.0, 0.2
PRICE_LIST_REGION = "us-east-1"  # the Price List API answers from here for every region


@lru_cache(maxsize=1)
def table() -> dict:
    """The bundled, dated price table."""
    return json.loads(resources.files("dlworkshop.aws").joinpath("prices.json").read_text())


@dataclass(frozen=True)
class Config:
    """What the Lab 1 form (or `stack deploy --param`) asks for."""

    instance_type: str = "m5.large"
    count: int = 2
    spot: bool = False

    @classmethod
    def of(cls, params: dict[str, str]) -> Config:
        try:
            count = max(0, int(params.get("InstanceCount") or 2))
        except ValueError:
            count = 2
        return cls(params.get("InstanceType") or "m5.large", count,
                   str(params.get("UseSpot", "false")).lower() == "true")  # fmt: skip


@dataclass(frozen=True)
class Estimate(Event):
    """Dollars per hour and for a typical workshop, line by line, and where prices came from."""

    config: dict
    per_hour: float
    workshop: float
    hours: float
    lines: list = field(default_factory=list)  # [(what, dollars per hour)]
    source: str = ""

    def render_text(self) -> str:
        market = "Spot" if self.config["spot"] else "On-Demand"
        return (f"[bold]Cost[/] about ${self.per_hour:.2f}/hour, ${self.workshop:.2f} for a "
                f"{self.hours:g}-hour workshop ({self.config['count']} x "
                f"{self.config['instance_type']} {market}; {self.source})")  # fmt: skip


@dataclass(frozen=True)
class Spent(Event):
    """What a stack has cost since it was created, at the estimate's prices."""

    stack: str
    since: float
    hours: float
    dollars: float
    source: str
    billed: str = ""  # Cost Explorer's figure, when the account has it

    def render_text(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.since))
        billed = f"; {self.billed}" if self.billed else ""
        return (f"[bold]Spent so far[/] about ${self.dollars:.2f} on {self.stack} over "
                f"{self.hours:.1f} h since {when} (estimate, {self.source}){billed}")


# ---- prices -------------------------------------------------------------------------
@dataclass(frozen=True)
class Prices:
    """An instance's hourly price, and where it came from."""

    hourly: float
    source: str


def _price_list(ctx: Context, instance_type: str) -> float:
    """The On-Demand Linux price per hour from the AWS Price List API."""
    pricing = ctx.client("pricing", PRICE_LIST_REGION)
    filters = {"instanceType": instance_type, "regionCode": ctx.target.region,
               "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
               "capacitystatus": "Used"}  # fmt: skip
    reply = pricing.get_products(
        ServiceCode="AmazonEC2", MaxResults=10,
        Filters=[{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()],
    )  # fmt: skip
    for item in reply.get("PriceList", []):
        product = json.loads(item) if isinstance(item, str) else item
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = float(dimension.get("pricePerUnit", {}).get("USD", 0))
                if usd > 0:
                    return usd
    raise LookupError(f"the Price List API has no On-Demand price for {instance_type}")


def _spot_now(ctx: Context, instance_type: str) -> float:
    """The average of the latest Spot price in each zone of the region."""
    reply = ctx.client("ec2").describe_spot_price_history(
        InstanceTypes=[instance_type], ProductDescriptions=["Linux/UNIX"],
        StartTime=time.time(), MaxResults=20)  # fmt: skip
    latest: dict[str, float] = {}
    for row in reply.get("SpotPriceHistory", []):
        latest.setdefault(row["AvailabilityZone"], float(row["SpotPrice"]))
    if not latest:
        raise LookupError(f"no Spot price history for {instance_type}")
    return sum(latest.values()) / len(latest)


_LIVE: dict[tuple[str, str, bool], Prices] = {}


def instance_price(ctx: Context | None, config: Config) -> Prices:
    """From the AWS APIs when they answer (cached), else from the bundled table."""
    prices = table()
    bundled = prices["instances"].get(config.instance_type)
    fallback = f"bundled {prices['region']} prices of {prices['as_of']}"
    if ctx is None:
        return Prices(bundled["spot" if config.spot else "on_demand"] if bundled else 0.0,
                      fallback)  # fmt: skip
    key = (ctx.target.region, config.instance_type, config.spot)
    if key in _LIVE:
        return _LIVE[key]
    try:
        if config.spot:
            live = Prices(_spot_now(ctx, config.instance_type), "EC2 Spot price history")
        else:
            live = Prices(_price_list(ctx, config.instance_type), "AWS Price List API")
    except Exception:  # unreachable, refused, or unknown here (the sandbox has no market)
        if bundled is None:
            live = Prices(0.0, f"no price known for {config.instance_type}")
        else:
            # Worded as when there is no connection at all: the table is the source.
            live = Prices(bundled["spot" if config.spot else "on_demand"], fallback)
    _LIVE[key] = live  # a failure too: asking again on every keystroke would only wait again
    return live


def estimate(ctx: Context | None, params: dict[str, str],
             hours: float = WORKSHOP_HOURS) -> Estimate:  # fmt: skip
    """The hourly cost of a configuration, and of a workshop of `hours`."""
    config = Config.of(params)
    prices = table()
    instance = instance_price(ctx, config)
    n = config.count
    per_month = 1 / HOURS_PER_MONTH
    lines = [
        (f"{n} x {config.instance_type} ({'Spot' if config.spot else 'On-Demand'})",
         n * instance.hourly),
        (f"{n} x {VOLUME_GB} GB gp3 volumes", n * VOLUME_GB * prices["ebs_gp3_gb_month"]
         * per_month),
        (f"{n} public IPv4 addresses", n * prices["public_ipv4_hour"]),
        (f"S3, about {S3_GB:g} GB", S3_GB * prices["s3_gb_month"] * per_month),
        (f"ECR, about {ECR_GB:g} GB", ECR_GB * prices["ecr_gb_month"] * per_month),
        (f"CloudWatch Logs, about {LOGS_GB:g} GB", LOGS_GB * prices["logs_ingest_gb"]
         / WORKSHOP_HOURS + LOGS_GB * prices["logs_store_gb_month"] * per_month),
    ]  # fmt: skip
    per_hour = sum(cost for _, cost in lines)
    return Estimate({"instance_type": config.instance_type, "count": n, "spot": config.spot},
                    round(per_hour, 4), round(per_hour * hours, 2), hours,
                    [(what, round(cost, 4)) for what, cost in lines], instance.source)  # fmt: skip


def _cost_explorer(ctx: Context, since: float) -> str:
    """The account's billed cost since `since` (whole days), when Cost Explorer answers."""
    start = time.strftime("%Y-%m-%d", time.gmtime(since))
    end = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    reply = ctx.client("ce").get_cost_and_usage(
        TimePeriod={"Start": start, "End": end}, Granularity="DAILY",
        Metrics=["UnblendedCost"])  # fmt: skip
    days = reply.get("ResultsByTime", [])
    if not days:
        return ""
    total = sum(float(d["Total"]["UnblendedCost"]["Amount"]) for d in days if d.get("Total"))
    return f"Cost Explorer: ${total:.2f} billed to the whole account since {start}"


def spent(ctx: Context, stack: str, created: float, params: dict[str, str],
          until: float | None = None, billed: bool = True) -> Spent:  # fmt: skip
    """What the stack has cost from its creation to `until` (now) at the estimate's prices."""
    until = until or time.time()
    hours = max(0.0, (until - created) / 3600)
    rate = estimate(ctx, params)
    figure = ""
    if billed:
        try:
            figure = _cost_explorer(ctx, created)
        except Exception:  # not enabled, not allowed, or not in the sandbox: leave it out
            figure = ""
    return Spent(stack, created, round(hours, 3), round(rate.per_hour * hours, 2),
                 rate.source, figure)  # fmt: skip


def stack_spent(ctx: Context, description: dict[str, Any]) -> Spent:
    """`spent` for a described stack."""
    from dlworkshop.aws.stack import parameters_of

    created = description["CreationTime"]
    created_ts = created.timestamp() if hasattr(created, "timestamp") else float(created)
    return spent(ctx, description["StackName"], created_ts, parameters_of(description))
