"""Lab 1's checkpoints: the stack is complete, and its cluster has its instances."""

from __future__ import annotations

from dlworkshop.aws import stack as stack_ops
from dlworkshop.cfn import template
from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context


def check_stack(ctx: Context) -> CheckResult:
    """Checkpoint: the stack is CREATE_COMPLETE (or updated) with all its outputs."""
    name = ctx.state.stack_name
    description = stack_ops.describe(ctx, name)
    if description is None:
        return CheckResult.fail(f"There is no stack called {name} yet: deploy it in Lab 1.")
    status = description["StackStatus"]
    if status not in stack_ops.HEALTHY:
        return CheckResult.fail(f"{name} is {status}.")
    missing = [k for k in template.output_keys() if k not in stack_ops.outputs(description)]
    if missing:
        return CheckResult.fail(f"{name} is {status} but lacks outputs: {', '.join(missing)}.")
    return CheckResult.ok(f"{name} is {status} with {len(template.output_keys())} outputs")


def check_instances(ctx: Context) -> CheckResult:
    """Checkpoint: the cluster lists as many ACTIVE container instances as were asked for."""
    name = ctx.state.stack_name
    description = stack_ops.describe(ctx, name)
    if description is None:
        return CheckResult.fail(f"There is no stack called {name} yet: deploy it in Lab 1.")
    cluster = stack_ops.outputs(description).get("ClusterName")
    if not cluster:
        return CheckResult.fail(f"{name} has no ClusterName output yet.")
    expected = int(stack_ops.parameters_of(description).get("InstanceCount") or 0)
    active = [i for i in stack_ops.container_instances(ctx, cluster) if i["status"] == "ACTIVE"]
    if len(active) < expected:
        return CheckResult.fail(
            f"{cluster} has {len(active)} of {expected} container instances registered; "
            "new instances take a few minutes to join."
        )
    return CheckResult.ok(f"{cluster} has {len(active)} registered container instances")
