"""The learner's public address, for the security group's SourceCidr."""

from __future__ import annotations

import ipaddress

from dlworkshop.context import Context

CHECKIP = "https://checkip.amazonaws.com"


def default_source_cidr(ctx: Context) -> tuple[str | None, str]:
    """(CIDR or None, how it was found): the caller's public IP as a /32."""
    if ctx.target.is_sandbox:
        # Everything in the sandbox is on this machine: only loopback needs to get in.
        return "127.0.0.1/32", "the sandbox runs on this machine, so only loopback"
    import httpx

    try:
        text = httpx.get(CHECKIP, timeout=5).text.strip()
        return f"{ipaddress.IPv4Address(text)}/32", f"your public IP, from {CHECKIP}"
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"could not find your public IP ({exc}); type it as SourceCidr"
