"""What `dlworkshop status` reports: mode, credentials, region, stack and progress."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dlworkshop import checkpoints, labs
from dlworkshop.context import Context
from dlworkshop.errors import explain
from dlworkshop.events import Event


@dataclass(frozen=True)
class ModeInfo(Event):
    """Which AWS the app talks to, and why."""

    mode: str
    region: str
    profile: str | None
    endpoint: str | None
    why: str

    def render_text(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        profile = f", profile {self.profile}" if self.profile else ""
        return f"[bold]Mode[/] {self.mode}{where}, region {self.region}{profile} ({self.why})"


@dataclass(frozen=True)
class CredentialsInfo(Event):
    """Whether the credentials work, and whose they are."""

    ok: bool
    account: str | None = None
    arn: str | None = None
    message: str = ""

    def render_text(self) -> str:
        if self.ok:
            return f"[bold]Credentials[/] [green]work[/]: account {self.account} as {self.arn}"
        return f"[bold]Credentials[/] [red]not working[/]: {self.message}"


@dataclass(frozen=True)
class StackInfo(Event):
    """The stack the labs use and the key pair's file."""

    name: str
    key_path: str | None

    def render_text(self) -> str:
        return f"[bold]Stack[/] {self.name}, key {self.key_path or 'not created yet'}"


@dataclass(frozen=True)
class ProgressInfo(Event):
    """Checkpoints passed so far in this mode."""

    passed: int
    total: int
    checkpoints: list[dict] = field(default_factory=list)

    def render_text(self) -> str:
        lines = [f"[bold]Progress[/] {self.passed} of {self.total} checkpoints passed"]
        marks = {"passed": "[green]✔[/]", "failed": "[red]✘[/]", "gone": "[yellow]↺[/]"}
        for cp in self.checkpoints:
            mark = marks.get(cp["status"], "·")
            reason = f" — {cp['reason']}" if cp.get("reason") else ""
            if cp["status"] == "gone":
                reason = f" — was passed, now gone: {cp['reason']}"
            lines.append(f"  {mark} {cp['lab']}: {cp['title']}{reason}")
        return "\n".join(lines)


def report(ctx: Context) -> Iterator[Event]:
    """Yield the status events for this context."""
    t = ctx.target
    yield ModeInfo(t.mode, t.region, t.profile, t.endpoint, t.why)
    if t.is_sandbox and not t.endpoint:
        yield CredentialsInfo(
            False, message="The sandbox is not running: start it with `dlworkshop sandbox start`."
        )
    else:
        from dlworkshop.aws.identity import whoami

        try:
            me = whoami(ctx)
            yield CredentialsInfo(True, me.account, me.arn)
        except Exception as exc:  # report, never crash: this is a status command
            yield CredentialsInfo(False, message=explain(exc))
    yield StackInfo(ctx.state.stack_name, ctx.state.key_path)
    if not t.is_sandbox or t.endpoint:
        # A pass is a claim about the world: recheck each one cheaply before listing it.
        from dlworkshop import state as state_store

        for cp, result in checkpoints.still_true(ctx):

            def gone(s: state_store.State, cp_id: str = cp.id, r=result) -> None:
                s.record(t.mode, cp_id, r.passed, r.reason)

            gone(ctx.state)
            state_store.update(gone)
    results = ctx.state.results(t.mode)
    rows = []
    for lab in labs.LABS:
        for cp in checkpoints.for_lab(lab.id):
            rec = results.get(cp.id, {})
            rows.append(
                {
                    "id": cp.id,
                    "lab": lab.name,
                    "title": cp.title,
                    "status": rec.get("status", "pending"),
                    "reason": rec.get("reason", ""),
                }
            )
    yield ProgressInfo(sum(r["status"] == "passed" for r in rows), len(rows), rows)
