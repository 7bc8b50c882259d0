"""Resolve the target and context every command works in (the sandbox started if needed)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop import state as state_store
from dlworkshop.events import Event, Log


def resolve(args: argparse.Namespace, printer):
    """Resolve the target from flags and saved state, reporting a corrupt state file once."""
    from dlworkshop import target as target_mod
    from dlworkshop.context import Context

    loaded = state_store.load()
    if loaded.warning:
        printer.emit(Log(loaded.warning, "warning"))
    target = target_mod.resolve(args.sandbox, args.profile, args.region, loaded.state.region)
    if target.is_sandbox:
        from dlworkshop.sandbox import lifecycle

        running = lifecycle.current()
        target = target.with_endpoint(running.endpoint if running else None)
    return Context(target, loaded.state)


def template_params(items: list[str]) -> dict[str, str]:
    """--param KEY=VALUE options as a dict (a value may itself hold "=")."""
    from dlworkshop.errors import UserError

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param takes KEY=VALUE, not {item!r}.")
        params[key] = value
    return params


def ask(question: str, args: argparse.Namespace) -> bool:
    """Yes with --yes; else ask on a terminal (default no); never ask when not on one."""
    import sys

    if getattr(args, "yes", False):
        return True
    if getattr(args, "json", False) or not sys.stdin.isatty():
        return False
    from rich.prompt import Confirm

    return Confirm.ask(question, default=False)


def with_sandbox(args: argparse.Namespace, printer) -> Iterator[Event]:
    """Like `resolve`, starting the sandbox when it is the target and not running; yields
    log lines on the way and leaves the context in args._ctx."""
    ctx = resolve(args, printer)
    if ctx.target.is_sandbox and not ctx.target.endpoint:
        from dlworkshop.sandbox import lifecycle

        info, _ = lifecycle.start(owner="cli")
        # Reloaded: the state now records the sandbox (and its registry).
        ctx = type(ctx)(ctx.target.with_endpoint(info.endpoint), state_store.load().state)
        yield Log(f"Started the sandbox at {info.endpoint}; `dlworkshop sandbox stop` stops it.")
    args._ctx = ctx
