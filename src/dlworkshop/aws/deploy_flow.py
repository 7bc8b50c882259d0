"""One deploy flow for the TUI and the CLI: checks, questions, key pair, then the stack."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

from dlworkshop import state as state_store
from dlworkshop.aws import keypairs
from dlworkshop.aws import stack as ops
from dlworkshop.aws.network import cidr_problem
from dlworkshop.cfn import template
from dlworkshop.context import Context
from dlworkshop.events import Event, Failed, Log

# (question, label of yes, label of no) -> yes? The TUI shows a dialog, the CLI a prompt.
Ask = Callable[[str, str, str], bool]


def _problems(params: dict[str, str]) -> list[str]:
    """Everything wrong with the parameters, found before anything is created."""
    errors = template.validate(params)
    cidr = params.get("SourceCidr")
    if cidr is not None and (problem := cidr_problem(cidr)):
        errors = [e for e in errors if "'SourceCidr'" not in e] + [problem]
    return errors


def _opens_to_all(params: dict[str, str]) -> bool:
    return ipaddress.IPv4Network(params["SourceCidr"], strict=False).prefixlen == 0


def deploy(
    ctx: Context,
    stack: str,
    params: dict[str, str],
    ask: Ask,
    existing: str | None = None,
    public_key: Path | None = None,
    confirm: Callable[[ops.ChangeSet], bool] = lambda changes: True,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """Validate, ask what is needed, make sure of the key pair, then deploy the stack.

    existing: None asks (update or reuse a healthy stack, replace a failed one);
    "reuse", "update" or "replace" decide without asking. Nothing is created (not even
    a key pair) when a parameter is refused or the learner says no.
    """
    params = dict(params)
    errors = _problems(params)
    if errors:
        yield Failed("The template refuses these parameters: " + " ".join(errors),
                     "Fix the values and deploy again; nothing was created.")  # fmt: skip
        return
    if "SourceCidr" in params and _opens_to_all(params):
        if not ask(f"SourceCidr {params['SourceCidr']} opens SSH to the whole internet. "
                   "Deploy anyway?", "Open to everyone", "Cancel"):  # fmt: skip
            yield Failed("Not deployed: SourceCidr opens SSH to the whole internet.",
                         "Use your own address as a /32 (Lab 1 fills it in), or confirm "
                         "with --yes.")  # fmt: skip
            return
        yield Log(f"SourceCidr {params['SourceCidr']} admits the whole internet.", "warning")
    if params.get("OpenServicePorts") == "true":
        yield Log("OpenServicePorts=true: the model server (8080, no sign-in) and Jupyter "
                  "(8888) take plain HTTP from SourceCidr; the labs reach both through SSH "
                  "tunnels without it.", "warning")  # fmt: skip
    ops.check_region(ctx)  # before a key pair is created in the wrong place
    from dlworkshop.aws import cost

    yield cost.estimate(ctx, params)  # what this configuration costs, before it bills
    if existing is None:
        decided = yield from _decide(ctx, stack, ask)
        if decided is None:
            return
        existing = decided
    name = params["KeyName"]
    if public_key is not None and name in keypairs.list_names(ctx):
        yield Log(f"A key pair called {name} already exists; using it rather than importing "
                  f"{public_key} again.")  # fmt: skip
        public_key = None
    key = keypairs.choose(ctx, name, public_key)
    yield key
    params["KeyName"] = key.name
    # Checks, pushes and the header follow the stack this deploy made or reused.
    state_store.update(lambda s: setattr(s, "stack_name", stack))
    ctx.state.stack_name = stack
    yield from ops.deploy(ctx, stack, params, existing, confirm, sleep)


def _decide(ctx: Context, stack: str, ask: Ask) -> Generator[Event, None, str | None]:
    """Ask what to do with an existing stack; returns the choice, or None to stop."""
    current = ops.describe(ctx, stack)
    status = current["StackStatus"] if current else None
    if status in ops.HEALTHY:
        update = ask(f"The stack {stack} already exists ({status}). Update it with these "
                     "parameters, or reuse it as it is?", "Update", "Reuse")  # fmt: skip
        return "update" if update else "reuse"
    if status in ops.BROKEN:
        if not ask(f"The stack {stack} is {status} from a deploy that failed. Delete it "
                   "and deploy again?", "Delete and retry", "Cancel"):  # fmt: skip
            yield Log("Nothing changed.")
            return None
        return "replace"
    return "reuse"  # none yet, or another deploy's still in progress: follow it
