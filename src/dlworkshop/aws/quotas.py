"""Pre-flight: may this account run the instances the stack asks for (EC2 vCPU quotas)?"""

from __future__ import annotations

from dataclasses import dataclass

from dlworkshop.context import Context
from dlworkshop.events import Event

# (On-Demand, Spot) quota codes of the instance families the template offers.
CODES = {
    "standard": ("L-1216C47A", "L-34B43A08"),
    "g": ("L-DB2E81BA", "L-3819A6DF"),
    "p": ("L-417A185B", "L-7212CCBC"),
}


@dataclass(frozen=True)
class QuotaCheck(Event):
    """The vCPUs the stack needs against the account's quota for that family."""

    quota: str
    code: str
    needed: int
    allowed: float | None
    ok: bool
    message: str

    def render_text(self) -> str:
        colour = "green" if self.ok else ("yellow" if self.allowed is None else "red")
        return f"[bold]Quota[/] [{colour}]{self.message}[/]"


def check_vcpus(ctx: Context, instance_type: str, count: int, spot: bool) -> QuotaCheck:
    """Compare the vCPUs of `count` x `instance_type` with the account's EC2 quota."""
    from dlworkshop.aws.cost import table

    info = table()["instances"].get(instance_type)
    if info is None:
        return QuotaCheck("?", "", 0, None, True,
                          f"{instance_type}: not a type the workshop knows; quota not checked")
    code = CODES[info["quota"]][1 if spot else 0]
    needed = int(info["vcpus"]) * count
    sq = ctx.client("service-quotas")
    try:
        quota = sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
    except Exception:
        try:  # an account that never changed it has only AWS's default
            quota = sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]
        except Exception as exc:
            from dlworkshop.errors import explain

            return QuotaCheck(code, code, needed, None, True,
                              f"could not read the EC2 quota {code}: {explain(exc)}")  # fmt: skip
    allowed = float(quota["Value"])
    name = quota.get("QuotaName", code)
    if needed > allowed:
        return QuotaCheck(name, code, needed, allowed, False,
                          f"{count} x {instance_type} need {needed} vCPUs but the account may "
                          f"run {allowed:g} ({name}, {ctx.target.region}). Ask for more in "
                          "Service Quotas (it can take a day), or pick a smaller type or "
                          "count.")  # fmt: skip
    return QuotaCheck(name, code, needed, allowed, True,
                      f"{count} x {instance_type} need {needed} of {allowed:g} vCPUs allowed "
                      f"({name}); instances already running count too")  # fmt: skip
