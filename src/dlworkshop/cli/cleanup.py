"""`dlworkshop cleanup [--yes] [--keep-key] [--dry-run]`: leave nothing running or billing."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.cli.context import ask, with_sandbox
from dlworkshop.events import Event, Log


def add_parsers(sub, parent: list) -> None:
    cleanup = sub.add_parser(
        "cleanup", parents=parent,
        help="delete everything the workshop made, then verify nothing is left")  # fmt: skip
    cleanup.add_argument("--yes", action="store_true", help="do not ask before deleting")
    cleanup.add_argument("--keep-key", action="store_true",
                         help="keep the key pair (and its .pem) dlworkshop made")  # fmt: skip
    cleanup.add_argument("--dry-run", action="store_true",
                         help="list what would be deleted; change nothing")  # fmt: skip
    cleanup.add_argument("--remove-images", action="store_true",
                         help="also remove the local images Lab 2 built (they do not bill)")


def cmd_cleanup(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import cleanup

    yield from with_sandbox(args, printer)
    ctx = args._ctx
    if not args.dry_run and not ask(
        f"Delete the workshop's stack {ctx.state.stack_name}, its data, tasks and images in "
        f"{ctx.target.region}?", args):  # fmt: skip
        from dlworkshop.events import Failed

        yield Failed("Nothing was deleted.", "Pass --yes to clean up without being asked, "
                     "or --dry-run to see what would go.")  # fmt: skip
        return

    def asked(question: str, yes: str, no: str) -> bool:
        return ask(question, args)

    # --yes says yes to the key pair too (unless --keep-key); images only with the flag.
    remove = True if args.remove_images else (False if args.yes else None)
    summary = None
    for event in cleanup.run(ctx, asked, args.keep_key, args.dry_run, remove):
        if isinstance(event, cleanup.CleanupSummary):
            summary = event
            continue
        yield event
    yield from stop_own_sandbox(ctx, args.dry_run)
    if summary is not None:
        yield summary


def stop_own_sandbox(ctx, dry_run: bool) -> Iterator[Event]:
    """Stop the sandbox when a dlworkshop command started it; the app's own runs until the
    app exits. Its whole cloud goes with it, so this comes after the verification."""
    if not ctx.target.is_sandbox or dry_run:
        return
    from dlworkshop.sandbox import lifecycle

    running = lifecycle.current()
    if running is not None and running.owner == "cli":
        lifecycle.stop(only=running)
        yield Log(f"Stopped the sandbox (PID {running.pid}) that a dlworkshop command started.")
