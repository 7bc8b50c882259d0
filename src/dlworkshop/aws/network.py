"""The learner's public address, for the security group's SourceCidr."""

from __future__ import annotations

import ipaddress

from dlworkshop.context import Context


def default_source_cidr(ctx: Context) -> tuple[str | None, str]:
    """(CIDR or None, how it was found): the caller's public IP as a /32."""
    import httpx

    url = ctx.aws.checkip_url()
    try:
        text = httpx.get(url, timeout=5).text.strip()
        return f"{ipaddress.IPv4Address(text)}/32", f"your public IP, from {url}"
    except (httpx.HTTPError, ValueError) as exc:
        return None, f"could not find your public IP ({exc}); type it as SourceCidr"


def cidr_problem(value: str) -> str | None:
    """Why `value` is not a usable IPv4 CIDR block for SourceCidr, or None when it is."""
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError as exc:
        return f"SourceCidr {value!r} is not an IPv4 CIDR block such as 203.0.113.7/32 ({exc})."
    if "/" not in value:
        return f"SourceCidr {value!r} needs a prefix length: {value}/32 for one address."
    return None
