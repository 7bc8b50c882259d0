"""Task-role credentials for the sandbox's tasks, served as the ECS agent serves them.

On ECS a container with a task role finds its credentials at the agent's endpoint, named
by AWS_CONTAINER_CREDENTIALS_*; the SDKs' default chain asks it. The sandbox does the same
on its own loopback port (the SDKs accept a full URI only on loopback, and the sandbox
reaches nothing else): each task gets a private path and token, and the credentials are
the task role's, from the sandbox's STS, so the task's AWS calls act as that role.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

PATH = "/v2/credentials/"
REFRESH_BEFORE = timedelta(minutes=15)  # hand out new credentials when these expire sooner


class TaskCredentials:
    """Per-task credential paths: issued when a task starts, revoked when it stops."""

    def __init__(self) -> None:
        self.runtime: Any = None  # set by the daemon once the endpoint is known
        self._lock = threading.Lock()
        self._issued: dict[str, dict[str, Any]] = {}  # path id -> task, role, token, cached

    def issue(self, task_arn: str, role_arn: str, region: str) -> dict[str, str]:
        """The environment that points a task's SDK at its credentials."""
        ident, token = secrets.token_hex(16), secrets.token_urlsafe(24)
        with self._lock:
            self._issued[ident] = {"task": task_arn, "role": role_arn, "region": region,
                                   "token": token, "cached": None}  # fmt: skip
        return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{self.runtime.endpoint}{PATH}{ident}",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": token}  # fmt: skip

    def revoke(self, task_arn: str) -> None:
        with self._lock:
            for ident in [i for i, v in self._issued.items() if v["task"] == task_arn]:
                del self._issued[ident]

    def answer(self, path: str, authorization: str) -> tuple[str, dict]:
        """(HTTP status, body) for a GET of `path` with this Authorization header."""
        ident = path[len(PATH):]
        with self._lock:
            issued = self._issued.get(ident)
        if issued is None or not hmac.compare_digest(authorization.encode(),
                                                     issued["token"].encode()):  # fmt: skip
            return "403 Forbidden", {"message": "No credentials for this path and token."}
        cached = issued["cached"]
        if cached is None or cached[0] - datetime.now(UTC) < REFRESH_BEFORE:
            sts = self.runtime.client("sts", issued["region"])
            got = sts.assume_role(RoleArn=issued["role"],
                                  RoleSessionName=issued["task"].rsplit("/", 1)[-1][:64])
            c = got["Credentials"]
            expires = c["Expiration"]
            cached = (expires, {"RoleArn": issued["role"], "AccessKeyId": c["AccessKeyId"],
                                "SecretAccessKey": c["SecretAccessKey"],
                                "Token": c["SessionToken"],
                                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
            issued["cached"] = cached
        return "200 OK", cached[1]
