"""The sandbox's CloudFormation: moto's, taught to report, roll back and delete as AWS does.

moto creates a stack synchronously and records only two stack-level events; a resource
that fails raises out of create_stack and leaves the stack half-made in
CREATE_IN_PROGRESS; delete_stack stops at the VPC (DependencyViolation) and drops the
record, leaving the network and the cluster behind. This agent wraps those two calls
inside the sandbox process so that clients see what AWS shows: an event per resource,
CREATE_FAILED then ROLLBACK_COMPLETE with nothing left, and DELETE_COMPLETE with
nothing left.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dlworkshop.sandbox import stack_cleanup, stack_tags
from dlworkshop.sandbox.agent import Agent

STACK_TYPE = "AWS::CloudFormation::Stack"
UNMODELLED = "The sandbox does not model this resource type; nothing was created for it."
# moto's calls that read a stack's outputs or resources (and so may build them).
READERS = ("describe_stacks", "describe_stack_resource", "describe_stack_resources",
           "list_stack_resources")  # fmt: skip


def _resources(stack: Any) -> list[tuple[str, str, Any]]:
    """(logical id, type, moto object or None) in moto's creation order."""
    resource_map = stack.resource_map
    template = getattr(resource_map, "_resource_json_map", None) or {}
    try:
        order = list(resource_map._ResourceMap__get_resources_in_dependency_order())
    except Exception:  # moto could not order a half-parsed template: the template's order
        order = list(template)
    parsed = resource_map._parsed_resources
    conditions = getattr(resource_map, "lazy_condition_map", {})

    def made_here(name: str) -> bool:
        # A resource whose Condition is false is not part of the stack at all, on AWS too.
        condition = template.get(name, {}).get("Condition")
        with contextlib.suppress(Exception):
            return not condition or bool(conditions[condition])
        return True

    return [(name, template.get(name, {}).get("Type", "?"), parsed.get(name))
            for name in order if made_here(name)]  # fmt: skip


def _physical(resource: Any) -> str:
    with contextlib.suppress(Exception):
        return str(resource.physical_resource_id or "")
    return ""


def _event(stack: Any, logical: str, kind: str, status: str, physical: str = "",
           reason: str | None = None) -> Any:  # fmt: skip
    from moto.cloudformation.models import Event

    return Event(stack.stack_id, stack.name, logical, physical, kind, status, reason, None)


def _append(stack: Any, events: list[Any]) -> None:
    """Add events after the stack's last one, a millisecond apart: clients order events by
    timestamp, and moto's clock gives a quick burst the same one."""
    last = stack.events[-1].timestamp if stack.events else None
    for event in events:
        if last is not None and event.timestamp <= last:
            event.timestamp = last + timedelta(milliseconds=1)
        last = event.timestamp
        stack.events.append(event)


def recorded(stack: Any) -> list[dict]:
    """The stack's resources as list_stack_resources would give them."""
    return [
        {"LogicalResourceId": name, "ResourceType": kind, "PhysicalResourceId": _physical(obj)}
        for name, kind, obj in _resources(stack)
        if obj is not None
    ]


class CloudFormationAgent(Agent):
    """Wraps moto's create_stack and delete_stack; has no loop of its own."""

    name = "cloudformation"

    def __init__(self, runtime, after_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(runtime)
        self.after_change = after_change  # e.g. register the instances a stack launched
        self._originals: dict[str, Callable] = {}
        self.rollbacks = 0
        self.deletes = 0
        # moto checks the name, then builds the stack, then stores it: two creates at once
        # would both pass the check. AWS refuses the second (AlreadyExistsException).
        # Readers wait too: moto builds a resource the first time anything asks for it, so
        # a describe_stacks during a create (its outputs name the log group) built the log
        # group in the reader's thread, and the create then failed on "already exists".
        self._creating = threading.RLock()

    def start(self) -> None:
        from moto.cloudformation.models import CloudFormationBackend

        for name, wrapper in (("create_stack", self._create), ("delete_stack", self._delete),
                              *((reader, self._after_creates) for reader in READERS)):  # fmt: skip
            original = getattr(CloudFormationBackend, name)
            self._originals[name] = original
            setattr(CloudFormationBackend, name, wrapper(original))

    def _after_creates(self, original: Callable) -> Callable:
        """A reader that waits for a create in progress to finish building its stack."""
        agent = self

        @functools.wraps(original)
        def read(backend: Any, *args: Any, **kwargs: Any) -> Any:
            with agent._creating:
                return original(backend, *args, **kwargs)

        return read

    def stop(self) -> None:
        from moto.cloudformation.models import CloudFormationBackend

        for name, original in self._originals.items():
            setattr(CloudFormationBackend, name, original)

    def sync(self) -> None:  # driven by moto's calls, not by a loop
        return None

    def status(self) -> dict:
        return {**super().status(), "rollbacks": self.rollbacks, "deletes": self.deletes}

    # ---- create ------------------------------------------------------------------------
    def _create(self, original: Callable) -> Callable:
        agent = self

        @functools.wraps(original)
        def create_stack(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                with agent._creating:
                    stack = original(backend, name, *args, **kwargs)
            except Exception as exc:
                half_made = [s for s in backend.stacks.values()
                             if s.name == name and s.status == "CREATE_IN_PROGRESS"]  # fmt: skip
                if not half_made:
                    raise  # refused before anything was made, as AWS refuses it
                agent._roll_back(backend, half_made[0], exc)
                return half_made[0]
            agent._report_created(stack)
            with contextlib.suppress(Exception):  # untagged is still a working stack
                stack_tags.propagate(
                    stack_cleanup.Clients(agent.runtime.client, stack.region_name),
                    dict(stack.tags or {}), recorded(stack))
            agent.after_change()
            return stack

        return create_stack

    def _report_created(self, stack: Any) -> None:
        """Per-resource events between moto's CREATE_IN_PROGRESS and CREATE_COMPLETE."""
        if not stack.events or stack.events[-1].resource_status != "CREATE_COMPLETE":
            return
        final = stack.events.pop()
        events = []
        for logical, kind, obj in _resources(stack):
            physical = _physical(obj)
            events.append(_event(stack, logical, kind, "CREATE_IN_PROGRESS"))
            reason = None if obj is not None else UNMODELLED
            events.append(_event(stack, logical, kind, "CREATE_COMPLETE", physical, reason))
        _append(stack, [*events, final])

    def _roll_back(self, backend: Any, stack: Any, exc: Exception) -> None:
        """CREATE_FAILED on the resource that failed, then delete what was made."""
        from dlworkshop.errors import explain

        self.rollbacks += 1
        reason = explain(exc)
        events = []
        failed = ""
        made = []
        for logical, kind, obj in _resources(stack):
            if obj is not None:
                made.append((logical, kind, _physical(obj)))
                events.append(_event(stack, logical, kind, "CREATE_IN_PROGRESS"))
                events.append(_event(stack, logical, kind, "CREATE_COMPLETE", _physical(obj)))
            elif not failed and logical in stack.resource_map._resource_json_map:
                failed = logical
                events.append(_event(stack, logical, kind, "CREATE_IN_PROGRESS"))
                events.append(_event(stack, logical, kind, "CREATE_FAILED", "", reason))
        events.append(_event(stack, stack.name, STACK_TYPE, "ROLLBACK_IN_PROGRESS",
                             stack.stack_id, f"The following resource(s) failed to create: "
                             f"[{failed or 'unknown'}]. Rollback requested by user."))  # fmt: skip
        _append(stack, events)
        leftovers = self._remove(stack, [
            {"LogicalResourceId": lg, "ResourceType": k, "PhysicalResourceId": p}
            for lg, k, p in made])  # fmt: skip
        rolled = [_event(stack, lg, k, "DELETE_COMPLETE", p) for lg, k, p in made
                  if lg not in leftovers]  # fmt: skip
        status = "ROLLBACK_FAILED" if leftovers else "ROLLBACK_COMPLETE"
        why = f"Could not delete: {', '.join(leftovers)}" if leftovers else None
        rolled.append(_event(stack, stack.name, STACK_TYPE, status, stack.stack_id, why))
        _append(stack, rolled)
        stack.status = status
        # What was rolled back has no outputs (and moto could not serialise them).
        stack.output_map = {}
        self.after_change()

    # ---- delete ------------------------------------------------------------------------
    def _remove(self, stack: Any, resources: list[dict]) -> list[str]:
        """Delete resources moto left; returns the logical IDs still there afterwards."""
        clients = stack_cleanup.Clients(self.runtime.client, stack.region_name)
        resources = stack_cleanup.with_tagged(clients, stack.name, resources)
        return stack_cleanup.remove(clients, resources)

    def _delete(self, original: Callable) -> Callable:
        agent = self

        @functools.wraps(original)
        def delete_stack(backend: Any, name_or_id: str) -> None:
            stacks = [s for s in backend.stacks.values()
                      if name_or_id in (s.name, s.stack_id)]  # fmt: skip
            if not stacks:
                return original(backend, name_or_id)
            agent._delete_one(backend, stacks[0], original)

        return delete_stack

    def _delete_one(self, backend: Any, stack: Any, original: Callable) -> None:
        self.deletes += 1
        try:
            resources = recorded(stack)
        except Exception:  # moto cannot list a half-made stack: the tags still tell
            resources = []
        clients = stack_cleanup.Clients(self.runtime.client, stack.region_name)
        stack_cleanup.release_cluster(clients, resources)  # the sandbox registered them
        with contextlib.suppress(Exception):
            original(backend, stack.stack_id)  # moto deletes what it can, then stops
        leftovers = self._remove(stack, resources)
        events = [_event(stack, r["LogicalResourceId"], r["ResourceType"], "DELETE_COMPLETE",
                         r["PhysicalResourceId"])
                  for r in resources if r["LogicalResourceId"] not in leftovers]  # fmt: skip
        if not stack.events or stack.events[-1].resource_status != "DELETE_IN_PROGRESS":
            events.insert(0, _event(stack, stack.name, STACK_TYPE, "DELETE_IN_PROGRESS",
                                    stack.stack_id, "User Initiated"))  # fmt: skip
        if stack.events and stack.events[-1].resource_status == "DELETE_COMPLETE":
            stack.events.pop()  # moto's, before ours: put it last again
        if leftovers:
            events.append(_event(stack, stack.name, STACK_TYPE, "DELETE_FAILED", stack.stack_id,
                                 f"Could not delete: {', '.join(leftovers)}"))  # fmt: skip
            stack.status = "DELETE_FAILED"
            backend.deleted_stacks.pop(stack.stack_id, None)
            backend.stacks[stack.stack_id] = stack
        else:
            events.append(_event(stack, stack.name, STACK_TYPE, "DELETE_COMPLETE",
                                 stack.stack_id))  # fmt: skip
            stack.status = "DELETE_COMPLETE"
            backend.stacks.pop(stack.stack_id, None)
            backend.deleted_stacks[stack.stack_id] = stack
            for export in getattr(stack, "exports", []):
                backend.exports.pop(export.name, None)
        _append(stack, events)
        self.after_change()
