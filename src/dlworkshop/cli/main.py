"""`dlworkshop [--sandbox | --profile P] [--region R] [--json] COMMAND`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dlworkshop import state as state_store
from dlworkshop.cli import cleanup, image, jobs, lab3, models, stack, train, workshop
from dlworkshop.cli.context import resolve
from dlworkshop.cli.output import Printer
from dlworkshop.errors import explain
from dlworkshop.events import Event, Failed, Log

EXIT_OK, EXIT_FAILED = 0, 1  # argparse itself exits with 2 on bad usage


@dataclass(frozen=True)
class SandboxStatus(Event):
    """Whether the sandbox runs, where, and as which process."""

    running: bool
    endpoint: str | None = None
    pid: int | None = None
    owner: str | None = None
    started: bool = False
    registry: str = ""
    registry_note: str = ""
    stopped_pid: int | None = None  # the sandbox this command just stopped

    @classmethod
    def of(cls, info, started: bool = False) -> SandboxStatus:
        return cls(True, info.endpoint, info.pid, info.owner, started,
                   info.registry, info.registry_note)  # fmt: skip

    def render_text(self) -> str:
        if not self.running and self.stopped_pid:
            return f"[bold]Sandbox[/] stopped (it was PID {self.stopped_pid})"
        if not self.running:
            return "[bold]Sandbox[/] not running"
        verb = "started" if self.started else "running"
        registry = (f"; ECR registry at {self.registry}" if self.registry
                    else f"; [yellow]no registry[/] ({self.registry_note})")  # fmt: skip
        return f"[bold]Sandbox[/] [green]{verb}[/] at {self.endpoint} (PID {self.pid}){registry}"


@dataclass(frozen=True)
class SandboxDetails(Event):
    """What the running sandbox runs: its agents, instances and tasks, and what is missing."""

    agents: list
    instances: list
    tasks: list
    missing: list

    @classmethod
    def of(cls, status: dict) -> SandboxDetails:
        agents = status.get("agents", [])
        by_name = {a["name"]: a for a in agents}
        missing = [f"{a['name']}: {a['problem']}" for a in agents if a.get("problem")]
        if not status.get("registry"):
            missing.append(f"registry: {status.get('registry_note') or 'not running'}")
        engine = by_name.get("tasks", {}).get("engine_problem")
        if engine:
            missing.append(f"Docker engine: {engine}")
        return cls([{"name": a["name"], "ok": not a.get("problem")} for a in agents],
                   by_name.get("instances", {}).get("instances", []),
                   by_name.get("tasks", {}).get("tasks", []), missing)  # fmt: skip

    def render_text(self) -> str:
        names = ", ".join(f"{a['name']} [{'green' if a['ok'] else 'red'}]"
                          f"{'ok' if a['ok'] else 'failing'}[/]" for a in self.agents)  # fmt: skip
        lines = [f"  Agents     {names}"]
        for i in self.instances:
            ssh = f"ssh port {i['ssh_port']}" if i.get("ssh_port") else "[yellow]no SSH[/]"
            lines.append(f"  Instance   {i['id']} at {i['address']}, {ssh}, cluster "
                         f"{i['cluster']}{'' if i.get('registered') else ' (not registered)'}")
        if not self.instances:
            lines.append("  Instances  none (deploy the Lab 1 stack)")
        for t in self.tasks:
            lines.append(f"  Task       {t['task'][:8]} {t['status']} on {t['instance_address']} "
                         f"({', '.join(t['containers']) or 'starting'})")
        lines += [f"  [yellow]Missing[/]    {m}" for m in self.missing]
        return "\n".join(lines)


def common() -> argparse.ArgumentParser:
    """Options every command also accepts after its name (`classify x.png --json`)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON event per line",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="dlworkshop",
        description="Workshop companion: deploy Apache MXNet on Amazon ECS, headless.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sandbox", action="store_true", help="use the offline sandbox")
    mode.add_argument("--profile", help="AWS profile to use (standard credential chain)")
    parser.add_argument("--region", help="AWS region, e.g. us-east-1")
    parser.add_argument("--json", action="store_true", help="print one JSON event per line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    parent = [common()]
    sub.add_parser("status", parents=parent, help="mode, credentials, region, stack and progress")

    sandbox = sub.add_parser("sandbox", help="start, inspect or stop the offline sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    sandbox_sub.add_parser("start", parents=parent, help="start the sandbox in the background")
    sandbox_sub.add_parser(
        "status", parents=parent, help="where it runs: agents, instances, tasks, what is missing"
    )
    sandbox_sub.add_parser("stop", parents=parent, help="stop the sandbox and free its ports")
    models.add_parsers(sub, parent)
    stack.add_parsers(sub, parent)
    image.add_parsers(sub, parent)
    lab3.add_parsers(sub, parent)
    cleanup.add_parsers(sub, parent)
    workshop.add_parsers(sub, parent)
    train.add_parsers(sub, parent)
    jobs.add_parsers(sub, parent)
    return parser


def cmd_status(args: argparse.Namespace, printer: Printer) -> Iterator[Event]:
    from dlworkshop.status import report

    yield from report(resolve(args, printer))


def cmd_sandbox(args: argparse.Namespace, printer: Printer) -> Iterator[Event]:
    from dlworkshop.sandbox import lifecycle

    loaded = state_store.load()
    if loaded.warning:
        yield Log(loaded.warning, "warning")
    if args.action == "start":
        yield Log("Starting the sandbox (moto server on loopback)…")
        info, started = lifecycle.start(owner="cli")
        yield SandboxStatus.of(info, started)
    elif args.action == "status":
        running = lifecycle.current()
        if running:
            yield SandboxStatus.of(running)
            yield SandboxDetails.of(lifecycle.status(running))
        else:
            yield SandboxStatus(False)
    else:
        stopped = lifecycle.stop()
        yield SandboxStatus(False, stopped_pid=stopped.pid if stopped else None)


COMMANDS: dict[str, Callable[[argparse.Namespace, Printer], Iterator[Event]]] = {
    "status": cmd_status,
    "sandbox": cmd_sandbox,
    "models": models.cmd_models,
    "classify": models.cmd_classify,
    "serve": models.cmd_serve,
    "stack": stack.cmd_stack,
    "image": image.cmd_image,
    "deploy": lab3.cmd_deploy,
    "tunnel": lab3.cmd_tunnel,
    "logs": lab3.cmd_logs,
    "ssh": lab3.cmd_ssh,
    "mesh": lab3.cmd_mesh,
    "cleanup": cleanup.cmd_cleanup,
    "workshop": workshop.cmd_workshop,
    "train": train.cmd_train,
    "upload": jobs.cmd_upload,
    "predict": jobs.cmd_predict,
    "job": jobs.cmd_job,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 0 on success, 1 on failure, 2 on bad usage."""
    args = build_parser().parse_args(argv)
    printer = Printer(args.json)
    try:
        for event in COMMANDS[args.command](args, printer):
            printer.emit(event)
    except KeyboardInterrupt:
        printer.emit(Failed("Interrupted."))
        return 130
    except Exception as exc:  # every failure gets a message, never a traceback
        printer.emit(Failed(explain(exc)))
        return EXIT_FAILED
    return EXIT_FAILED if printer.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
