"""Follow a stack's events until it reaches a terminal status."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dlworkshop.events import Event

TERMINAL = {
    "CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
    "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED",
    "DELETE_COMPLETE", "DELETE_FAILED", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
    "IMPORT_ROLLBACK_FAILED",
}  # fmt: skip
STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class ResourceEvent(Event):
    """One resource changed status (a row of the live resource view)."""

    logical_id: str
    resource_type: str
    status: str
    reason: str = ""
    physical_id: str = ""
    timestamp: str = ""
    stack: str = ""  # the (nested) stack the resource belongs to
    event_id: str = ""

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")

    def render_text(self) -> str:
        colour = (
            "red" if self.failed else "green" if self.status.endswith("_COMPLETE") else "yellow"
        )
        reason = f"\n    [red]{self.reason}[/]" if self.failed and self.reason else ""
        nested = f"{self.stack}/" if self.stack else ""
        name = f"{nested}{self.logical_id}"
        return f"  [{colour}]{self.status:<22}[/] {name} [dim]{self.resource_type}[/]{reason}"


@dataclass(frozen=True)
class FailureReason(Event):
    """The first resource that failed and why: the thing to fix."""

    logical_id: str
    resource_type: str
    reason: str

    def render_text(self) -> str:
        return (
            f"[bold red]First failure:[/] {self.logical_id} ({self.resource_type}): {self.reason}"
        )


def _time(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def _new_events(cfn: Any, stack: str, seen: set[str], since: datetime | None) -> list[dict]:
    """Unseen events of one stack, oldest first.

    describe_stack_events is newest-first and paginated: read pages until a page reaches
    events already seen (or older than `since`), then reverse.
    """
    fresh: list[dict] = []
    token = None
    while True:
        kwargs = {"StackName": stack}
        if token:
            kwargs["NextToken"] = token
        page = cfn.describe_stack_events(**kwargs)
        reached_known = False
        for event in page.get("StackEvents", []):
            if event["EventId"] in seen or (since and event["Timestamp"] < since):
                reached_known = True
                break
            fresh.append(event)
        token = page.get("NextToken")
        if reached_known or not token:
            break
    return list(reversed(fresh))


def newest(cfn: Any, stack: str) -> tuple[set[str], datetime | None]:
    """The first page of existing event IDs and the newest timestamp: what `follow` skips."""
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    return {e["EventId"] for e in events}, (events[0]["Timestamp"] if events else None)


def follow(
    cfn: Any,
    stack_id: str,
    since: datetime | None = None,
    seen: set[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    first_delay: float = 1.0,
    max_delay: float = 10.0,
    timeout: float = 3 * 3600,
) -> Iterator[Event]:
    """Yield ResourceEvents (nested stacks included) in time order until the stack ends.

    Polls politely: the delay doubles while nothing happens, and resets when it does.
    Yields one FailureReason for the first failed resource, before the rollback's events.
    """
    seen = set(seen or ())
    stacks = [stack_id]  # nested stacks are followed too, once they appear
    nested_names: dict[str, str] = {}
    reported_failure = False
    delay = first_delay
    started = time.monotonic()
    while True:
        batch: list[dict] = []
        for stack in list(stacks):
            batch.extend(_new_events(cfn, stack, seen, since))
        batch.sort(key=lambda e: (e["Timestamp"], e["EventId"]))
        finished = False
        for event in batch:
            seen.add(event["EventId"])
            physical = event.get("PhysicalResourceId", "")
            is_root = event["StackId"] == stack_id or event.get("StackName") == stack_id
            nested = event["ResourceType"] == STACK_TYPE and physical not in ("", event["StackId"])
            if nested and physical not in stacks:  # a nested stack: follow its events too
                stacks.append(physical)
                nested_names[physical] = event["LogicalResourceId"]
            resource = ResourceEvent(
                logical_id=event["LogicalResourceId"],
                resource_type=event["ResourceType"],
                status=event["ResourceStatus"],
                reason=event.get("ResourceStatusReason", "") or "",
                physical_id=physical,
                timestamp=_time(event["Timestamp"]),
                stack="" if is_root else nested_names.get(event["StackId"], ""),
                event_id=event["EventId"],
            )
            if (
                resource.failed
                and not reported_failure
                and "cancelled" not in resource.reason.lower()
            ):
                reported_failure = True
                yield FailureReason(resource.logical_id, resource.resource_type, resource.reason)
            yield resource
            own_stack = (
                event["ResourceType"] == STACK_TYPE
                and is_root
                and (
                    physical in ("", event["StackId"])
                    or event["LogicalResourceId"] == event.get("StackName")
                )
            )
            if own_stack and resource.status in TERMINAL:
                finished = True
        if finished:
            return
        if batch:
            delay = first_delay
        else:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"the stack did not finish within {timeout / 60:.0f} minutes")
            delay = min(delay * 2, max_delay)
        sleep(delay)
