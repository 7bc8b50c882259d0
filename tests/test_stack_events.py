"""Following stack events: time order, no duplicates, pagination, nesting, failure, back-off.

The sequence below is recorded in the shape CloudFormation returns: describe_stack_events
is newest-first and pages 100 events at a time. Events appear a batch per poll, with idle
polls in between, as a real deploy does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dlworkshop.aws.stack_events import FailureReason, ResourceEvent, follow

ROOT = "arn:aws:cloudformation:eu-west-1:111122223333:stack/ws/root"
NESTED = "arn:aws:cloudformation:eu-west-1:111122223333:stack/ws-Network-1ABC/nested"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def recorded() -> list[dict]:
    """A create that fails on the cluster, with a nested network stack, then rolls back."""
    events: list[dict] = []

    def add(stack_id, stack_name, logical, kind, status, reason="", physical=""):
        n = len(events)
        events.append({
            "EventId": f"e{n:04d}", "StackId": stack_id, "StackName": stack_name,
            "LogicalResourceId": logical, "ResourceType": kind, "ResourceStatus": status,
            "ResourceStatusReason": reason, "PhysicalResourceId": physical,
            "Timestamp": T0 + timedelta(seconds=n),
        })  # fmt: skip

    stack = "AWS::CloudFormation::Stack"
    add(ROOT, "ws", "ws", stack, "CREATE_IN_PROGRESS", "User Initiated", ROOT)
    add(ROOT, "ws", "Network", stack, "CREATE_IN_PROGRESS", "", NESTED)
    add(NESTED, "ws-Network-1ABC", "ws-Network-1ABC", stack, "CREATE_IN_PROGRESS", "", NESTED)
    for i in range(40):
        add(NESTED, "ws-Network-1ABC", f"Subnet{i}", "AWS::EC2::Subnet", "CREATE_IN_PROGRESS")
        add(
            NESTED,
            "ws-Network-1ABC",
            f"Subnet{i}",
            "AWS::EC2::Subnet",
            "CREATE_COMPLETE",
            physical=f"subnet-{i}",
        )
    add(NESTED, "ws-Network-1ABC", "ws-Network-1ABC", stack, "CREATE_COMPLETE", "", NESTED)
    add(ROOT, "ws", "Network", stack, "CREATE_COMPLETE", "", NESTED)
    for i in range(60):
        add(ROOT, "ws", f"Role{i}", "AWS::IAM::Role", "CREATE_IN_PROGRESS")
        add(ROOT, "ws", f"Role{i}", "AWS::IAM::Role", "CREATE_COMPLETE", physical=f"role-{i}")
    add(ROOT, "ws", "Cluster", "AWS::ECS::Cluster", "CREATE_IN_PROGRESS")
    add(ROOT, "ws", "Bucket", "AWS::S3::Bucket", "CREATE_IN_PROGRESS")
    add(
        ROOT,
        "ws",
        "Cluster",
        "AWS::ECS::Cluster",
        "CREATE_FAILED",
        'Resource handler returned message: "Cluster name is invalid"',
    )
    add(ROOT, "ws", "Bucket", "AWS::S3::Bucket", "CREATE_FAILED", "Resource creation cancelled")
    add(
        ROOT,
        "ws",
        "ws",
        stack,
        "ROLLBACK_IN_PROGRESS",
        "The following resource(s) failed to create: [Cluster, Bucket].",
        ROOT,
    )
    for i in range(60):
        add(ROOT, "ws", f"Role{i}", "AWS::IAM::Role", "DELETE_COMPLETE", physical=f"role-{i}")
    add(ROOT, "ws", "ws", stack, "ROLLBACK_COMPLETE", "", ROOT)
    return events


class RecordedCloudFormation:
    """Serves a recorded sequence: a few more events become visible after each sleep."""

    PAGE = 100

    def __init__(self, events: list[dict], reveal: list[int]) -> None:
        self.events, self.reveal, self.step, self.calls = events, reveal, 0, 0

    def visible(self) -> list[dict]:
        return self.events[: self.reveal[min(self.step, len(self.reveal) - 1)]]

    def sleep(self, seconds: float) -> None:
        self.step += 1

    def describe_stack_events(self, StackName: str, NextToken: str | None = None) -> dict:
        self.calls += 1
        mine = [e for e in self.visible() if StackName in (e["StackId"], e["StackName"])]
        newest_first = list(reversed(mine))
        start = int(NextToken or 0)
        page = newest_first[start : start + self.PAGE]
        reply = {"StackEvents": page}
        if start + self.PAGE < len(newest_first):
            reply["NextToken"] = str(start + self.PAGE)
        return reply


def run(cfn: RecordedCloudFormation, sleeps: list[float], **kwargs) -> list:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        cfn.sleep(seconds)

    return list(follow(cfn, ROOT, sleep=sleep, first_delay=1, max_delay=8, **kwargs))


def test_every_event_once_in_time_order_with_the_first_failure_first() -> None:
    events = recorded()
    n = len(events)
    # Bursts of new events, with idle polls between them (and one page of 100+ at once).
    reveal = [1, 3, 3, 3, 60, 60, 60, 60, 60, 190, 193, 193, 197, n]
    cfn = RecordedCloudFormation(events, reveal)
    sleeps: list[float] = []
    out = run(cfn, sleeps)

    resources = [e for e in out if isinstance(e, ResourceEvent)]
    assert [r.event_id for r in resources] == [e["EventId"] for e in events]
    assert len({r.event_id for r in resources}) == n  # no duplicates
    assert resources[-1].logical_id == "ws" and resources[-1].status == "ROLLBACK_COMPLETE"

    failures = [e for e in out if isinstance(e, FailureReason)]
    assert failures == [FailureReason("Cluster", "AWS::ECS::Cluster",
                                      "Resource handler returned message: \"Cluster name is "
                                      "invalid\"")]  # fmt: skip
    failure_at = out.index(failures[0])
    rollback_at = next(
        i
        for i, e in enumerate(out)
        if isinstance(e, ResourceEvent) and e.status == "ROLLBACK_IN_PROGRESS"
    )
    assert failure_at < rollback_at

    nested = [r for r in resources if r.logical_id.startswith("Subnet")]
    assert len(nested) == 80 and all(r.stack == "Network" for r in nested)
    assert all(r.stack == "" for r in resources if r.logical_id.startswith("Role"))

    # Polite polling: the delay doubles while nothing happens (capped at 8 here) and drops
    # back after news. The third poll is news too: the nested stack's own first event,
    # fetched once the parent's event revealed the nested stack.
    assert sleeps[:10] == [1, 1, 1, 2, 1, 2, 4, 8, 8, 1]


def test_an_update_shows_only_its_own_events_and_finds_nested_stacks() -> None:
    from dlworkshop.aws.stack_events import newest

    events = recorded()  # the earlier, finished operation
    n = len(events)
    stack = "AWS::CloudFormation::Stack"
    later = T0 + timedelta(hours=1)
    update = [
        (ROOT, "ws", "ws", stack, "UPDATE_IN_PROGRESS", ROOT),
        (ROOT, "ws", "Network", stack, "UPDATE_IN_PROGRESS", NESTED),
        (NESTED, "ws-Network-1ABC", "ws-Network-1ABC", stack, "UPDATE_IN_PROGRESS", NESTED),
        (NESTED, "ws-Network-1ABC", "Subnet0", "AWS::EC2::Subnet", "UPDATE_COMPLETE", "subnet-0"),
        (NESTED, "ws-Network-1ABC", "ws-Network-1ABC", stack, "UPDATE_COMPLETE", NESTED),
        (ROOT, "ws", "Network", stack, "UPDATE_COMPLETE", NESTED),
        (ROOT, "ws", "ws", stack, "UPDATE_COMPLETE", ROOT),
    ]
    for i, (sid, sname, logical, kind, status, physical) in enumerate(update):
        events.append({
            "EventId": f"u{i}", "StackId": sid, "StackName": sname, "LogicalResourceId": logical,
            "ResourceType": kind, "ResourceStatus": status, "ResourceStatusReason": "",
            "PhysicalResourceId": physical, "Timestamp": later + timedelta(seconds=i),
        })  # fmt: skip
    cfn = RecordedCloudFormation(events, [n, n + 2, n + len(update)])
    seen, since = newest(cfn, ROOT)  # what deploy records before it starts the update
    out = run(cfn, [], seen=seen, since=since)
    ids = [e.event_id for e in out if isinstance(e, ResourceEvent)]
    assert ids == [f"u{i}" for i in range(len(update))]
    assert [e.stack for e in out if isinstance(e, ResourceEvent)][2:5] == ["Network"] * 3


def test_a_stack_that_completes_stops_the_stream() -> None:
    events = recorded()[:3]
    events.append({**events[0], "EventId": "done", "ResourceStatus": "CREATE_COMPLETE",
                   "Timestamp": T0 + timedelta(minutes=5)})  # fmt: skip
    cfn = RecordedCloudFormation(events, [len(events)])
    out = run(cfn, [])
    assert out[-1].status == "CREATE_COMPLETE"
    assert not [e for e in out if isinstance(e, FailureReason)]
