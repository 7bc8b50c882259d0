"""The awslogs driver of the sandbox: a container's output into moto's CloudWatch Logs.

The sandbox's containers log to the engine's json-file (the real awslogs driver would
call AWS); this ships each line to the group and the stream that awslogs would use,
`PREFIX/CONTAINER/TASK-ID`, within about a second.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

FLUSH_EVERY = 0.5
MAX_BATCH = 1000  # put_log_events takes at most 10,000 events; keep requests small


@dataclass(frozen=True)
class Destination:
    """Where awslogs would send a container's output."""

    region: str
    group: str
    stream: str
    create_group: bool = False

    @classmethod
    def of(cls, definition: dict, task_region: str, task_id: str) -> Destination | None:
        """From a container definition's logConfiguration, or None if it is not awslogs."""
        config = definition.get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options") or {}
        prefix = options.get("awslogs-stream-prefix", "")
        name = definition.get("name", "")
        stream = f"{prefix}/{name}/{task_id}" if prefix else task_id
        return cls(options.get("awslogs-region") or task_region,
                   options.get("awslogs-group", ""), stream,
                   str(options.get("awslogs-create-group", "")).lower() == "true")  # fmt: skip


def _timestamp_ms(stamp: str) -> int:
    """Docker's RFC 3339 timestamp (nanoseconds, Z) in milliseconds since the epoch."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return int(seconds * 1000 + int((frac + "000")[:3] or 0))


def prepare(client_for: Any, where: Destination) -> None:
    """Make sure the stream exists, as the driver does before the container starts.

    Raises what CloudWatch answers when the group does not exist and may not be created,
    which stops the task as it does on AWS.
    """
    logs = client_for("logs", where.region)
    if where.create_group:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=where.group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=where.group, logStreamName=where.stream)


class Shipper:
    """Follows one container's output and puts it into its stream, until it exits."""

    def __init__(self, client_for: Any, container: Any, where: Destination) -> None:
        self.client_for = client_for
        self.container = container
        self.where = where
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self.shipped = 0
        self.problem = ""
        threading.Thread(target=self._follow, name="logs-follow", daemon=True).start()
        self._flusher = threading.Thread(target=self._flush_loop, name="logs-put", daemon=True)
        self._flusher.start()

    def _follow(self) -> None:
        buffered = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True, timestamps=True):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                self._add(lines)
            if buffered:
                self._add([buffered])
        except Exception as exc:  # the engine went away: say so, keep what was read
            self.problem = f"stopped following the container's output: {exc}"
        finally:
            self._ended.set()

    def _add(self, lines: list[bytes]) -> None:
        events = []
        for raw in lines:
            stamp, _, message = raw.decode(errors="replace").partition(" ")
            try:
                when = _timestamp_ms(stamp)
            except ValueError:
                when, message = int(time.time() * 1000), raw.decode(errors="replace")
            events.append({"timestamp": when, "message": message.rstrip("\r")})
        with self._lock:
            self._pending.extend(events)

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if not batch:
            return
        try:
            self.client_for("logs", self.where.region).put_log_events(
                logGroupName=self.where.group, logStreamName=self.where.stream,
                logEvents=sorted(batch, key=lambda e: e["timestamp"]))  # fmt: skip
            self.shipped += len(batch)
        except Exception as exc:  # the group was deleted under us: drop, and say why
            self.problem = f"put_log_events failed: {exc}"

    def _flush_loop(self) -> None:
        while not self._ended.wait(FLUSH_EVERY):
            self._flush()
        while self._pending:
            self._flush()

    def wait(self, timeout: float = 10.0) -> None:
        """Until every line the container wrote is in CloudWatch (or `timeout`)."""
        self._ended.wait(timeout)
        self._flusher.join(timeout)
