"""`dlworkshop deploy|tunnel|logs|ssh|mesh`: Lab 3 from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.cli.context import with_sandbox
from dlworkshop.events import Event, Log


def add_parsers(sub, parent: list) -> None:
    deploy = sub.add_parser("deploy", parents=parent,
                            help="Lab 3: run the MXNet container on the cluster (ECS)")  # fmt: skip
    deploy.add_argument("--jupyter", action="store_true",
                        help="run JupyterLab (port 8888) instead of the model server")  # fmt: skip
    deploy.add_argument("--instance", action="append", default=[], metavar="ID",
                        help="only on this container instance (repeatable; default all)")
    deploy.add_argument("--stop", action="store_true", help="stop the workshop's tasks instead")
    tunnel = sub.add_parser("tunnel", parents=parent,
                            help="Lab 3: SSH tunnel to an instance's model server and Jupyter")
    tunnel.add_argument("--instance", metavar="ID", help="default: the first instance")
    tunnel.add_argument("--port", type=int, action="append", default=[],
                        help="remote port to forward (repeatable; default 8080 and 8888)")
    logs = sub.add_parser("logs", parents=parent, help="Lab 3: the tasks' CloudWatch Logs")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.add_argument("--since", default="10m", help="how far back (30s, 10m, 2h, 1d)")
    logs.add_argument("--jupyter", action="store_true", help="Jupyter's log, not the server's")
    ssh = sub.add_parser("ssh", parents=parent,
                         help="Lab 3: a shell (or a command) on a container instance")
    ssh.add_argument("--instance", metavar="ID", help="default: the first instance")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER, help="a command instead of a shell")
    sub.add_parser("mesh", parents=parent,
                   help="Lab 3: can the first instance reach the others (SSH, 8080)?")


def cmd_deploy(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import taskdef, tasks

    yield from with_sandbox(args, printer)
    ctx = args._ctx
    kind = taskdef.JUPYTER if args.jupyter else taskdef.SERVE
    if args.stop:
        yield from tasks.stop(ctx, kind if args.jupyter else None)
        return
    yield from tasks.run(ctx, kind, args.instance)


def cmd_tunnel(args: argparse.Namespace, printer) -> Iterator[Event]:
    import os
    import queue

    from dlworkshop.remote import forwards

    yield from with_sandbox(args, printer)
    ports = tuple(args.port) or (forwards.SERVE_PORT, forwards.JUPYTER_PORT)
    tunnel, opened = forwards.open_tunnel(args._ctx, args.instance, ports, owner="cli")
    changes: queue.Queue[str] = queue.Queue()
    tunnel.keep(changes.put)
    try:
        yield opened
        yield Log("The tunnel stays open until Ctrl+C; it reconnects by itself if it drops.")
        while True:
            yield forwards.TunnelChanged(changes.get())
    except KeyboardInterrupt:
        yield Log("Closing the tunnel.")
    finally:
        tunnel.close()
        forwards.forget(os.getpid())


def cmd_logs(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import logs

    since = logs.parse_since(args.since)
    yield from with_sandbox(args, printer)
    prefix = "jupyter/" if args.jupyter else "serve/"
    try:
        yield from logs.follow(args._ctx, prefix, since, keep_following=args.follow)
    except KeyboardInterrupt:
        return


def cmd_ssh(args: argparse.Namespace, printer) -> Iterator[Event]:
    import subprocess

    from dlworkshop.remote import instances

    yield from with_sandbox(args, printer)
    ctx = args._ctx
    instance = instances.pick(ctx, args.instance)
    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    line, trusted = instances.ssh_command(ctx, instance, argv)
    if trusted:
        yield Log(f"First connection to {instance.instance_id}: trusted host key {trusted}.")
    code = subprocess.call(line)
    if code:
        raise SystemExit(code)


def cmd_mesh(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.events import Failed
    from dlworkshop.remote import instances

    yield from with_sandbox(args, printer)
    results = instances.mesh(args._ctx)
    yield from results
    failed = [r for r in results if not r.ok]
    if failed:
        yield Failed(f"{len(failed)} of {len(results)} checks failed.",
                     "Is the model server running on every instance (`dlworkshop deploy`)?")
