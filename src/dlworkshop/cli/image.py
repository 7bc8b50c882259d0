"""`dlworkshop image build|shell|push`: Lab 2 from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from dlworkshop.events import Event, Log


def add_parsers(sub, parent: list) -> None:
    image = sub.add_parser("image", help="Lab 2: the MXNet container image")
    actions = image.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", parents=parent, help="build the image, streamed")
    build.add_argument(
        "--tag", default=None, help="image tag (default dlworkshop/mxnet:latest, or :gpu)"
    )
    build.add_argument(
        "--base-image",
        help="base image (default: the sandbox's local Debian 12 image if present, else "
        "python:3.11-slim-bookworm; with --gpu, nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu22.04)",
    )
    build.add_argument(
        "--gpu", action="store_true", help="the GPU image (mxnet-cu117), after the CPU one"
    )
    build.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    shell = actions.add_parser(
        "shell", parents=parent, help="an interactive shell in the image (docker run -it --rm)"
    )
    shell.add_argument("--tag", default=None, help="image (default dlworkshop/mxnet:latest)")
    shell.add_argument("cmd", nargs=argparse.REMAINDER, help="a command instead of bash")
    push = actions.add_parser(
        "push", parents=parent, help="push the image to the stack's ECR repository"
    )
    push.add_argument(
        "--source", default=None, help="local image (default dlworkshop/mxnet:latest)"
    )
    push.add_argument("--tag", default="latest", help="tag in ECR (default latest)")


def cmd_image(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.container import build, engine

    client = engine.client()
    if args.action == "build":
        yield from build.build(client, args.tag, args.base_image, args.no_cache, args.gpu)
    elif args.action == "shell":
        import subprocess

        from dlworkshop.container import shell

        argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd  # `image shell -- python -V`
        line = shell.command(client, args.tag or build.DEFAULT_TAG, argv or None)
        code = subprocess.call(line, env=engine.cli_environment())
        yield Log(f"The shell exited with status {code}.")
        if code:
            raise SystemExit(code)
    else:
        from dlworkshop.cli.context import with_sandbox
        from dlworkshop.container import push

        yield from with_sandbox(args, printer)
        events = push.push(client, args._ctx, args.source or build.DEFAULT_TAG, args.tag)
        if args.json or not sys.stderr.isatty():
            yield from events  # every layer event, as a line
        else:
            yield from _with_layer_bars(events, printer)


def _with_layer_bars(events: Iterator[Event], printer) -> Iterator[Event]:
    """In a terminal, a bar per layer instead of a line per layer event."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn

    from dlworkshop.container.push import PushDone, PushLayer
    from dlworkshop.events import Failed

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[size]}"),
               TextColumn("{task.fields[status]}"))  # fmt: skip
    last: list[Event] = []  # the digest or the failure, printed below the finished bars
    with Progress(*columns, console=printer.console) as bars:
        tasks: dict[str, TaskID] = {}
        for event in events:
            if isinstance(event, (PushDone, Failed)):
                last.append(event)
                continue
            if not isinstance(event, PushLayer):
                yield event
                continue
            if event.layer not in tasks:
                tasks[event.layer] = bars.add_task(event.layer, total=None, size="", status="")
            task = tasks[event.layer]
            # A layer the registry already has (or mounts from another repository) sends
            # no sizes: its bar just fills.
            size = f"{event.current / 1e6:.1f}/{event.total / 1e6:.1f} MB" if event.total else ""
            if event.done:
                known = bars.tasks[task].total
                bars.update(task, total=known or 1, completed=known or 1, status=event.status,
                            size=f"{known / 1e6:.1f} MB" if known else "")  # fmt: skip
            else:
                bars.update(task, total=event.total or None, completed=event.current,
                            size=size or bars.tasks[task].fields["size"],
                            status=event.status)  # fmt: skip
    yield from last
