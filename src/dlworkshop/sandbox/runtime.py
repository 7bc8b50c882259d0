"""What every agent of the sandbox daemon shares: its endpoint, folder, registry and moto."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# moto accepts any key; these give the sandbox's one account, 123456789012.
ACCOUNT = "123456789012"
KEY = SECRET = "sandbox"


@dataclass
class Runtime:
    """The running sandbox as its agents see it."""

    endpoint: str  # the AWS API on loopback, as clients reach it
    home: Path  # the sandbox's private folder (host keys, registry data, logs)
    registry: str = ""  # host:port of the ECR stand-in, or ""
    registry_note: str = ""  # why there is none
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def client(self, service: str, region: str) -> Any:
        """A boto3 client for this thread against the sandbox's own API.

        Agents write through the AWS API where it can say what they mean (registering an
        instance, putting a log event), so moto checks and records it as for any caller;
        they reach into moto's models only for what the API cannot set.
        """
        clients: dict[tuple[str, str], Any] = getattr(self._local, "clients", None) or {}
        self._local.clients = clients
        key = (service, region)
        if key not in clients:
            import boto3
            from botocore.config import Config

            clients[key] = boto3.client(
                service, region_name=region, endpoint_url=self.endpoint,
                aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                config=Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=60),
            )  # fmt: skip
        return clients[key]


def backends(service: str) -> Iterator[tuple[str, Any]]:
    """(region, backend) for each region of the sandbox's account that moto has set up.

    Iterating moto's per-account map lists only the regions used so far; indexing it
    would create one.
    """
    from moto.backends import get_backend

    # moto types get_backend per literal service name; ours arrive as plain strings.
    account = get_backend(service).get(ACCOUNT)  # type: ignore[call-overload]
    if account is None:
        return
    yield from list(dict.items(account))


def backend(service: str, region: str) -> Any:
    """moto's backend for one service and region of the sandbox's account."""
    from moto.backends import get_backend

    return get_backend(service)[ACCOUNT][region]  # type: ignore[call-overload]
