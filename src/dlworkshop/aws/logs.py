"""Follow the workshop tasks' CloudWatch Logs, de-duplicated, backing off while idle."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dlworkshop.aws import stack as stack_ops
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event

_SINCE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
IDLE_DELAYS = (1.0, 2.0, 3.0, 5.0)  # seconds between polls while nothing new arrives
# Jupyter prints its login token in URLs: shown lines hide it (the tunnel reads it itself).
TOKEN = re.compile(r"([?&]token=)([0-9A-Za-z_-]+)")  # group 2: the token itself


def redact(message: str) -> str:
    """The line with any ?token=… replaced, so a secret is not echoed to screens or logs."""
    return TOKEN.sub(r"\1[secret]", message)


@dataclass(frozen=True)
class LogLine(Event):
    """One line a container printed."""

    timestamp: int  # milliseconds since the epoch
    stream: str  # PREFIX/CONTAINER/TASK-ID
    message: str
    event_id: str = ""

    @property
    def task(self) -> str:
        return self.stream.rsplit("/", 1)[-1][:8]

    def render_text(self) -> str:
        from rich.markup import escape

        when = time.strftime("%H:%M:%S", time.localtime(self.timestamp / 1000))
        return f"[dim]{when} {self.task}[/] {escape(self.message)}"


def parse_since(text: str) -> float:
    """"10m", "2h", "30s", "1d" in seconds."""
    found = _SINCE.match(text.strip())
    if not found:
        raise UserError(f"{text!r} is not a duration; write it like 30s, 10m, 2h or 1d.")
    return int(found.group(1)) * _UNITS[found.group(2)]


def group_of(ctx: Context) -> str:
    return stack_ops.outputs(stack_ops.required(ctx))["LogGroupName"]


class Tail:
    """The log group's lines (of streams starting with `prefix`) from `since_seconds` ago,
    each once, oldest first: poll() as often as you like."""

    def __init__(self, ctx: Context, prefix: str = "", since_seconds: float = 600,
                 raw: bool = False) -> None:  # fmt: skip
        self.logs, self.group = ctx.client("logs"), group_of(ctx)
        self.prefix, self.raw = prefix, raw
        self.start = int((time.time() - since_seconds) * 1000)
        self.seen: set[str] = set()

    def poll(self) -> list[LogLine]:
        """What arrived since the last poll."""
        kwargs = {"logGroupName": self.group, "startTime": self.start, "interleaved": True}
        if self.prefix:
            kwargs["logStreamNamePrefix"] = self.prefix
        fresh = []
        token = None
        while True:
            page = self.logs.filter_log_events(**kwargs, **({"nextToken": token} if token else {}))
            for e in page.get("events", []):
                if e["eventId"] not in self.seen:
                    self.seen.add(e["eventId"])
                    fresh.append(e)
            token = page.get("nextToken")
            if not token:
                break
        fresh.sort(key=lambda e: (e["timestamp"], e["eventId"]))
        if fresh:
            # Ask again from the newest second seen: events can arrive late within it.
            self.start = max(self.start, fresh[-1]["timestamp"] - 1000)
        lines = []
        for e in fresh:
            message = e["message"].rstrip("\n")
            lines.append(LogLine(e["timestamp"], e["logStreamName"],
                                 message if self.raw else redact(message), e["eventId"]))
        return lines


def follow(
    ctx: Context,
    prefix: str = "",
    since_seconds: float = 600,
    keep_following: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
    raw: bool = False,
) -> Iterator[LogLine]:
    """Lines of the stack's log group (streams starting with `prefix`) from `since_seconds`
    ago, oldest first; then, with `keep_following`, new ones as they come until `stop()`.
    Tokens in the lines are hidden unless `raw`."""
    tail = Tail(ctx, prefix, since_seconds, raw)
    idle = 0
    while True:
        fresh = tail.poll()
        yield from fresh
        idle = 0 if fresh else idle + 1
        if not keep_following or stop():
            return
        sleep(IDLE_DELAYS[min(idle, len(IDLE_DELAYS) - 1)] if not fresh else 0.5)
        if stop():
            return
