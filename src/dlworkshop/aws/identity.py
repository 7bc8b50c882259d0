"""Who the caller is and which regions they can use: the Overview's real checks."""

from __future__ import annotations

from dataclasses import dataclass

from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context


@dataclass(frozen=True)
class Identity:
    """The caller as STS reports it."""

    account: str
    arn: str


def whoami(ctx: Context) -> Identity:
    """Ask STS who the credentials belong to (this is what proves they work)."""
    reply = ctx.client("sts").get_caller_identity()
    return Identity(reply["Account"], reply["Arn"])


def enabled_regions(ctx: Context) -> list[str]:
    """Regions the account can use (opted-in or not requiring opt-in)."""
    # Ask a region every account has, so that a wrong region still gets a useful list.
    reply = ctx.client("ec2", "us-east-1").describe_regions(AllRegions=False)
    return sorted(r["RegionName"] for r in reply["Regions"])


def check_credentials(ctx: Context) -> CheckResult:
    """Checkpoint: the credentials work."""
    me = whoami(ctx)
    return CheckResult.ok(f"account {me.account} as {me.arn}")


def check_region(ctx: Context) -> CheckResult:
    """Checkpoint: the chosen region is one the account can use."""
    region = ctx.target.region
    regions = enabled_regions(ctx)
    if region in regions:
        return CheckResult.ok(f"{region} is enabled for this account")
    return CheckResult.fail(
        f"{region} is not a region this account can use. Pick one of: {', '.join(regions)}."
    )
