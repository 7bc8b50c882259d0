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
