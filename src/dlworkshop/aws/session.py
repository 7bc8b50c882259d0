"""The one boto3 session factory: per-thread sessions and clients.

This is the seam between the two targets, and the only place in aws/ that asks which one
it talks to: the sandbox is reached at its own endpoint with its fixed credentials (moto
accepts any; there is no credential chain to walk offline). Everything else the sandbox
does differently it does inside its own process (sandbox/), behind the AWS API, so the
code in aws/ and container/ is the same for both targets.
"""

from __future__ import annotations

import threading
from typing import Any

from dlworkshop.target import Target

# moto accepts any key; fixed ones keep the sandbox's account id stable (123456789012).
SANDBOX_KEY = "sandbox"
SANDBOX_SECRET = "sandbox"
CHECKIP = "https://checkip.amazonaws.com"


class SessionFactory:
    """Hands out boto3 clients for one Target; a session per thread, since sessions are not
    thread-safe."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._local = threading.local()

    def session(self) -> Any:
        """This thread's boto3 session."""
        session = getattr(self._local, "session", None)
        if session is None:
            import boto3

            if self.target.is_sandbox:
                session = boto3.Session(
                    aws_access_key_id=SANDBOX_KEY,
                    aws_secret_access_key=SANDBOX_SECRET,
                    region_name=self.target.region,
                )
            else:
                session = boto3.Session(
                    profile_name=self.target.profile, region_name=self.target.region
                )
            self._local.session = session
            self._local.clients = {}
        return session

    def checkip_url(self) -> str:
        """Where to ask for this machine's public address. The sandbox answers it too: its
        instances are on this machine's loopback, so the answer is 127.0.0.1."""
        if self.target.endpoint:
            return f"{self.target.endpoint}/dlworkshop/checkip"
        return CHECKIP

    def client(self, service: str, region: str | None = None) -> Any:
        """This thread's client for `service` (in `region`, default the target's), pointed at
        the sandbox when in sandbox mode."""
        session = self.session()
        clients: dict[tuple[str, str | None], Any] = self._local.clients
        key = (service, region)
        if key not in clients:
            from botocore.config import Config

            kwargs: dict[str, Any] = {}
            if self.target.is_sandbox:
                if not self.target.endpoint:
                    from dlworkshop.errors import UserError

                    raise UserError(
                        "The sandbox is not running. Start it with `dlworkshop sandbox start` "
                        "(the app starts its own when it opens)."
                    )
                kwargs["endpoint_url"] = self.target.endpoint
                # Loopback answers at once or not at all: fail fast instead of retrying.
                kwargs["config"] = Config(
                    retries={"max_attempts": 1}, connect_timeout=3, read_timeout=60
                )
            else:
                # An unreachable AWS should fail in seconds, not after minutes of retries.
                kwargs["config"] = Config(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=10,
                    read_timeout=60,
                )
            if region:
                kwargs["region_name"] = region
            clients[key] = session.client(service, **kwargs)
        return clients[key]
