"""`dlworkshop workshop [--keep] [--from LAB] [--param K=V]`: every lab, headless."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.cli.context import template_params, with_sandbox
from dlworkshop.events import Event


def add_parsers(sub, parent: list) -> None:
    from dlworkshop.workshop import ORDER

    workshop = sub.add_parser(
        "workshop", parents=parent,
        help="run every lab's actions and checkpoints in order, then clean up "
             "(pre-flight for instructors, CI for everyone)")  # fmt: skip
    workshop.add_argument("--keep", action="store_true",
                          help="leave everything running (no cleanup at the end)")
    workshop.add_argument("--from", dest="from_lab", default="overview", choices=ORDER,
                          metavar="LAB", help=f"start at this lab ({', '.join(ORDER)})")
    workshop.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                          help="a Lab 1 template parameter, e.g. InstanceType=c5.xlarge")


def cmd_workshop(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.cli.cleanup import stop_own_sandbox
    from dlworkshop.workshop import WorkshopSummary, run

    params = template_params(args.param)
    yield from with_sandbox(args, printer)
    summary = None
    for event in run(args._ctx, params, args.keep, args.from_lab):
        if isinstance(event, WorkshopSummary):
            summary = event  # the last line, after the sandbox is stopped
            continue
        yield event
    if not args.keep and summary is not None and summary.passed:
        yield from stop_own_sandbox(args._ctx, dry_run=False)
    if summary is not None:
        yield summary  # a stop was a Failed event already: the exit status says so
