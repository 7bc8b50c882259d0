"""A live resource tree, in the style of AWS Copilot's deploy progress."""

from __future__ import annotations

import time

from rich.table import Table
from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

COLOURS = {"COMPLETE": "green", "FAILED": "red", "IN_PROGRESS": "yellow"}


def status_style(status: str) -> str:
    if status.endswith("_FAILED") or status.startswith("ROLLBACK") or "ROLLBACK_" in status:
        return "red"
    for suffix, colour in COLOURS.items():
        if status.endswith(suffix):
            return colour
    return ""


_DONE = {"CREATE": "created", "DELETE": "deleted", "UPDATE": "updated", "IMPORT": "imported",
         "ROLLBACK": "rolled back", "UPDATE_ROLLBACK": "rolled back"}  # fmt: skip
_DOING = {"CREATE": "creating", "DELETE": "deleting", "UPDATE": "updating",
          "IMPORT": "importing", "ROLLBACK": "rolling back",
          "UPDATE_ROLLBACK": "rolling back"}  # fmt: skip


def short_status(status: str) -> str:
    """CREATE_COMPLETE as "created", DELETE_IN_PROGRESS as "deleting", *_FAILED as "failed"."""
    for suffix, words in (("_COMPLETE", _DONE), ("_IN_PROGRESS", _DOING)):
        if status.endswith(suffix):
            return words.get(status.removesuffix(suffix), status.lower())
    return "failed" if status.endswith("_FAILED") else status.lower()


class ResourceRow(Static):
    """One resource: logical ID, type, coloured status, elapsed time, and a failure reason."""

    def __init__(self, logical_id: str, resource_type: str, depth: int) -> None:
        super().__init__(classes="resource-row")
        self.logical_id, self.resource_type, self.depth = logical_id, resource_type, depth
        self.status, self.reason = "", ""
        self.started = time.monotonic()
        self.finished: float | None = None

    def set_status(self, status: str, reason: str) -> None:
        self.status = status
        if status.endswith(("_COMPLETE", "_FAILED")):
            self.finished = self.finished or time.monotonic()
        else:
            self.finished = None
        self.reason = reason if status.endswith("_FAILED") else ""
        self.set_class(bool(self.reason), "-failed")
        self.refresh()

    def render(self) -> Table:
        elapsed = (self.finished or time.monotonic()) - self.started
        style = status_style(self.status)
        marker = {"green": "✔", "red": "✘", "yellow": "◔"}.get(style, "·")
        grid = Table.grid(padding=(0, 1), expand=True)
        show_type = self.size.width >= 60  # a narrow pane keeps the names readable instead
        grid.add_column(no_wrap=True)  # the indent and the marker
        # A long logical ID folds onto a second line rather than losing its end.
        grid.add_column(ratio=5, overflow="fold")
        if show_type:
            grid.add_column(ratio=3, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True)
        show_time = self.size.width >= 40  # under 40 columns the name matters more
        if show_time:
            grid.add_column(justify="right", no_wrap=True, width=5)
        lead = Text("  " * self.depth)
        lead.append(marker, style=style)
        name = Text(self.logical_id, style="bold")
        kind = [Text(self.resource_type.removeprefix("AWS::"), style="dim")] if show_type else []
        # A narrow pane gives the names the room: "created" says what CREATE_COMPLETE does.
        status = self.status if self.size.width >= 50 else short_status(self.status)
        timing = [Text(f"{elapsed:.0f}s", style="dim")] if show_time else []
        grid.add_row(lead, name, *kind, Text(status, style=style), *timing)
        if self.reason:  # wrapped under the failed row
            blanks = [""] * (len(grid.columns) - 2)
            grid.add_row("", Text(f"└ {self.reason}", style="red"), *blanks)
        return grid


# The stack's resources grouped as a learner thinks of them, in the order they come up.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Stack", ("AWS::CloudFormation::Stack",)),
    ("Network", ("AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::InternetGateway",
                 "AWS::EC2::Route", "AWS::EC2::SecurityGroup")),
    ("Storage", ("AWS::S3::",)),
    ("Images", ("AWS::ECR::",)),
    ("Logs", ("AWS::Logs::",)),
    ("Access", ("AWS::IAM::",)),
    ("Compute", ("AWS::ECS::", "AWS::AutoScaling::", "AWS::EC2::LaunchTemplate",
                 "AWS::EC2::Instance")),
    ("Other", ("",)),
)


def group_of(resource_type: str) -> str:
    """The group a resource type is shown in (VPCGatewayAttachment counts as Network)."""
    for name, prefixes in GROUPS:
        if any(resource_type.startswith(p) for p in prefixes):
            return name
    return "Other"


class ResourceGroup(Vertical):
    """A group of resource rows; its title (on its top border) counts what is done."""

    def __init__(self, name: str) -> None:
        super().__init__(classes="resource-group", id=f"group-{name.replace(' ', '_')}")
        self.group = name
        self.border_title = name

    def refresh_title(self) -> None:
        """"Network · 7/9": how many of the group's resources are done (or failed)."""
        rows = list(self.query(ResourceRow))
        failed = sum(r.status.endswith("_FAILED") for r in rows)
        done = sum(r.status.endswith("_COMPLETE") for r in rows)
        title = Text(self.group, style="bold")
        summary = f" · {done}/{len(rows)}" + (f", {failed} failed" if failed else "")
        title.append(summary, style="red" if failed else ("green" if done == len(rows) else "dim"))
        self.border_title = title


class ResourceTree(Vertical):
    """Resources grouped by kind (network, storage, images, logs, access, compute); a nested
    stack's resources in a group of their own; each failure reason under its resource."""

    def compose(self):
        yield Static("No deploy yet.", classes="dim resources-empty")

    def clear(self, message: str = "Starting…") -> None:
        """Empty the tree, saying why (a deploy starting, a stack deleted)."""
        self.remove_children()
        self.mount(Static(message, classes="dim resources-empty"))

    def _group(self, name: str) -> ResourceGroup:
        """The group, mounted in GROUPS order when it first gets a resource."""
        found = [g for g in self.query(ResourceGroup) if g.group == name]
        if found:
            return found[0]
        group = ResourceGroup(name)
        order = [n for n, _ in GROUPS]
        rank = order.index(name) if name in order else len(order)
        later = [g for g in self.query(ResourceGroup)
                 if (order.index(g.group) if g.group in order else len(order)) > rank]  # fmt: skip
        if later:
            self.mount(group, before=later[0])
        else:
            self.mount(group)
        return group

    def update_resource(self, stack: str, logical_id: str, resource_type: str, status: str,
                        reason: str) -> None:  # fmt: skip
        for empty in self.query(".resources-empty"):
            empty.remove()
        key = f"res-{stack}-{logical_id}".replace(".", "_").replace("/", "_").replace(":", "_")
        found = self.query(f"#{key}")
        if found:
            row = found.first(ResourceRow)
            group = row.parent
        else:
            group = self._group(f"Nested stack {stack}" if stack else group_of(resource_type))
            row = ResourceRow(logical_id, resource_type, 0)
            row.id = key
            group.mount(row)
        row.set_status(status, reason)
        if isinstance(group, ResourceGroup):  # once the row is mounted and can be counted
            group.call_after_refresh(group.refresh_title)

    def rows(self) -> list[ResourceRow]:
        return list(self.query(ResourceRow))
