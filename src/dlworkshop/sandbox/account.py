"""The sandbox account's limits and market: EC2 vCPU quotas, and no prices to quote.

moto's Service Quotas knows only VPC quotas, so the workshop's pre-flight could not ask
how many vCPUs the account may run; this agent answers the EC2 quotas as a new AWS
account has them, sized for this machine (no GPU at all). moto's Spot price history is
placeholder data (a price of 0.00001): the sandbox has no market, so it answers with no
history, as a region without Spot does, and the cost estimate says it used its table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dlworkshop.sandbox.agent import Agent

# Quota code -> (name, vCPUs): the On-Demand and Spot families the template's types use.
EC2_QUOTAS = {
    "L-1216C47A": ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 32.0),
    "L-34B43A08": ("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", 32.0),
    # The sandbox's instances are loopback addresses on a machine without a GPU.
    "L-DB2E81BA": ("Running On-Demand G and VT instances", 0.0),
    "L-3819A6DF": ("All G and VT Spot Instance Requests", 0.0),
    "L-417A185B": ("Running On-Demand P instances", 0.0),
    "L-7212CCBC": ("All P Spot Instance Requests", 0.0),
}


def _quota(region: str, account: str, code: str) -> dict[str, Any]:
    name, value = EC2_QUOTAS[code]
    return {"ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
            "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:ec2/{code}",
            "QuotaCode": code, "QuotaName": name, "Value": value, "Unit": "None",
            "Adjustable": True, "GlobalQuota": False}  # fmt: skip


class AccountAgent(Agent):
    """Wraps moto's Service Quotas and Spot price history; has no loop of its own."""

    name = "account"

    def __init__(self, runtime) -> None:
        super().__init__(runtime)
        self._originals: list[tuple[type, str, Callable]] = []

    def start(self) -> None:
        from moto.ec2.models.spot_requests import SpotRequestBackend
        from moto.servicequotas.models import ServiceQuotasBackend

        def no_history(backend: Any, *args: Any, **kwargs: Any) -> list:
            return []

        self._wrap(ServiceQuotasBackend, "get_service_quota", self._get_quota)
        self._wrap(SpotRequestBackend, "describe_spot_price_history", lambda original: no_history)

    def _wrap(self, cls: type, name: str, wrapper: Callable[[Callable], Callable]) -> None:
        original = getattr(cls, name)
        self._originals.append((cls, name, original))
        setattr(cls, name, functools.wraps(original)(wrapper(original)))

    @staticmethod
    def _get_quota(original: Callable) -> Callable:
        def get_service_quota(backend: Any, service_code: str, quota_code: str) -> dict:
            if service_code == "ec2" and quota_code in EC2_QUOTAS:
                return _quota(backend.region_name, backend.account_id, quota_code)
            return original(backend, service_code, quota_code)

        return get_service_quota

    def stop(self) -> None:
        for cls, name, original in self._originals:
            setattr(cls, name, original)

    def sync(self) -> None:  # driven by moto's calls, not by a loop
        return None
