"""`dlworkshop stack deploy|status|delete`: Lab 1 from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.cli.context import ask, template_params, with_sandbox
from dlworkshop.errors import UserError
from dlworkshop.events import Event, Failed, Log


def add_parsers(sub, parent: list) -> None:
    stack = sub.add_parser("stack", help="Lab 1: the workshop's CloudFormation stack")
    actions = stack.add_subparsers(dest="action", metavar="ACTION", required=True)
    deploy = actions.add_parser("deploy", parents=parent, help="create (or update) the stack")
    deploy.add_argument("--stack", help="stack name (default: the saved one, dlworkshop)")
    deploy.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template parameter, e.g. InstanceType=g4dn.xlarge (repeatable)",
    )
    how = deploy.add_mutually_exclusive_group()
    how.add_argument(
        "--update",
        action="store_const",
        dest="existing",
        const="update",
        help="update an existing stack (shows a change set first)",
    )
    how.add_argument(
        "--replace",
        action="store_const",
        dest="existing",
        const="replace",
        help="delete a failed stack, then create it again",
    )
    deploy.add_argument(
        "--import-public-key",
        metavar="PATH",
        help="import this public key (e.g. ~/.ssh/id_ed25519.pub) as the key pair",
    )
    deploy.add_argument("--yes", action="store_true", help="do not ask before changing things")
    status = actions.add_parser("status", parents=parent, help="status, outputs, instances")
    status.add_argument("--stack")
    delete = actions.add_parser("delete", parents=parent, help="delete the stack and its data")
    delete.add_argument("--stack")
    delete.add_argument("--yes", action="store_true", help="do not ask first")


def cmd_stack(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import stack as ops

    yield from with_sandbox(args, printer)
    ctx = args._ctx
    name = args.stack or ctx.state.stack_name
    if args.action == "status":
        description = ops.describe(ctx, name)
        if description is None:
            yield Failed(f"There is no stack called {name} in {ctx.target.region}.",
                         "Deploy it with `dlworkshop stack deploy` (or Lab 1), or pass "
                         "--stack NAME / --region REGION.")  # fmt: skip
            return
        yield ops.StackDone(name, description["StackStatus"], ops.outputs(description))
        from dlworkshop.aws import cost

        yield cost.stack_spent(ctx, description)
        cluster = ops.outputs(description).get("ClusterName")
        if cluster:
            expected = int(ops.parameters_of(description).get("InstanceCount") or 0)
            yield ops.ContainerInstances(cluster, expected, ops.container_instances(ctx, cluster))
        return
    if args.action == "delete":
        if not ask(f"Delete the stack {name} and everything in its buckets?", args):
            yield Failed("Not deleted.", "Pass --yes to delete without being asked.")
            return
        yield from ops.delete(ctx, name)
        return
    yield from _deploy(args, ctx, name)


def _deploy(args: argparse.Namespace, ctx, name: str) -> Iterator[Event]:
    from pathlib import Path

    from dlworkshop.aws import deploy_flow, network

    params = template_params(args.param)
    if "SourceCidr" not in params:
        cidr, how = network.default_source_cidr(ctx)
        if cidr is None:
            raise UserError(f"SourceCidr: {how}, e.g. --param SourceCidr=203.0.113.7/32")
        params["SourceCidr"] = cidr
        yield Log(f"SourceCidr {cidr}: {how}.")
    public = Path(args.import_public_key).expanduser() if args.import_public_key else None
    default_key = f"{name}-imported" if public else (ctx.state.key_name or f"{name}-key")
    params.setdefault("KeyName", default_key)

    def asked(question: str, yes: str, no: str) -> bool:
        return ask(question, args)

    def confirm(changes) -> bool:
        return ask(f"Apply these {len(changes.changes)} changes to {name}?", args)

    yield from deploy_flow.deploy(ctx, name, params, asked, args.existing or "reuse", public,
                                  confirm)  # fmt: skip
