"""The Appendix's GPU check: in a task on a GPU container instance, MXNet sees the GPU and
runs a forward pass on it."""

from __future__ import annotations

import json
import time

from dlworkshop.aws import logs as logs_mod
from dlworkshop.aws import stack as stack_ops
from dlworkshop.aws import taskdef, tasks
from dlworkshop.context import Context

MARK = "GPU-CHECK "  # the task's one line of result, found among its log lines
TIMEOUT = 15 * 60  # a GPU image is large: its first pull on a new instance takes minutes
# What the task runs: how many GPUs MXNet sees, the first one's name, and a forward pass.
SCRIPT = (
    "import json, subprocess, time\n"
    "import mxnet as mx\n"
    "n = mx.context.num_gpus()\n"
    "out = {'gpus': n}\n"
    "if n:\n"
    "    out['name'] = subprocess.run(['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'],"
    " capture_output=True, text=True).stdout.strip().splitlines()[0]\n"
    "    net = mx.gluon.model_zoo.vision.resnet18_v1(ctx=mx.gpu(0))\n"
    "    net.initialize(ctx=mx.gpu(0))\n"
    "    x = mx.nd.ones((8, 3, 224, 224), ctx=mx.gpu(0))\n"
    "    net(x).wait_to_read()\n"
    "    start = time.time()\n"
    "    net(x).wait_to_read()\n"
    "    out['forward_ms'] = round((time.time() - start) * 1000, 1)\n"
    f"print('{MARK}' + json.dumps(out), flush=True)\n"
)
PROBE_TYPE = "g4dn.xlarge"  # the smallest GPU instance the template offers


def _no_gpu_quota(ctx: Context) -> str:
    """Why no GPU instance can start in this account ("" when one can): its On-Demand quota
    for G instances. New AWS accounts often have none; the offline sandbox, which has no
    GPU at all, answers none too, so the same check explains both."""
    from dlworkshop.aws.quotas import check_vcpus

    quota = check_vcpus(ctx, PROBE_TYPE, 1, spot=False)
    if quota.allowed is None or quota.allowed >= quota.needed:
        return ""
    return (f"This account may run {quota.allowed:g} vCPUs of GPU (G) instances ({quota.quota}), "
            f"so no GPU instance can start: the check cannot run here. The offline sandbox has "
            f"no GPU, so it always answers so. On AWS, ask for the quota (Service Quotas, "
            f"{quota.code}), deploy Lab 1 with UseGpu=true and a g4dn or g5 instance type, "
            "build and push Dockerfile.gpu's image in Lab 2, then run the checks again.")


def gpu_instances(ctx: Context) -> list[dict]:
    """The cluster's container instances that registered GPUs with ECS."""
    ecs, cluster = ctx.client("ecs"), tasks.cluster_of(ctx)
    arns = [i["arn"] for i in tasks.instances(ctx, cluster)]
    if not arns:
        return []
    described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    return [c for c in described["containerInstances"]
            if any(r.get("name") == "GPU" for r in c.get("registeredResources", []))]  # fmt: skip


def check_gpu(ctx: Context):
    """Checkpoint: a task on a GPU instance sees the GPU and runs MXNet on it."""
    from dlworkshop.checkpoints import CheckResult

    why_not = _no_gpu_quota(ctx)
    if why_not:  # said first: it beats an obscure failure further on
        return CheckResult.fail(why_not)
    params = stack_ops.parameters_of(stack_ops.required(ctx))
    if params.get("UseGpu") != "true":
        return CheckResult.fail(f"The stack runs CPU instances ({params.get('InstanceType')}): "
                                "deploy Lab 1 with UseGpu=true and a g4dn or g5 instance type.")
    if not gpu_instances(ctx):
        return CheckResult.fail("No container instance has registered a GPU with ECS yet: wait "
                                "for the GPU instances to join (Lab 1), then check again.")
    return _run_check(ctx)


def recheck_gpu(ctx: Context):
    """Cheap recheck: the cluster still has a GPU instance."""
    from dlworkshop.checkpoints import CheckResult

    why_not = _no_gpu_quota(ctx)
    if why_not:
        return CheckResult.fail(why_not)
    found = gpu_instances(ctx)
    return CheckResult.ok(f"{len(found)} GPU instance(s)") if found else \
        CheckResult.fail("The cluster has no GPU instance any more.")  # fmt: skip


def _run_check(ctx: Context):
    """Run the script as a task of the train definition (which asks for a GPU) and read it."""
    from dlworkshop.checkpoints import CheckResult

    ready = None
    for event in taskdef.register(ctx, taskdef.TRAIN):
        ready = event
    assert isinstance(ready, taskdef.TaskDefinitionReady)
    ecs, cluster = ctx.client("ecs"), tasks.cluster_of(ctx)
    answer = ecs.run_task(cluster=cluster, taskDefinition=ready.arn, count=1,
                          startedBy=tasks.STARTED_BY, overrides={"containerOverrides": [
                              {"name": taskdef.CONTAINER, "command": ["python", "-c", SCRIPT]}]})
    if answer.get("failures") or not answer.get("tasks"):
        reason = "; ".join(f.get("reason", "") for f in answer.get("failures", []))
        return CheckResult.fail(f"ECS could not place the GPU check: {reason or 'no GPU free'}.")
    task_id = answer["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        described = ecs.describe_tasks(cluster=cluster, tasks=[task_id])["tasks"]
        if described and described[0].get("lastStatus") == "STOPPED":
            break
        time.sleep(5)
    else:
        ecs.stop_task(cluster=cluster, task=task_id, reason="The GPU check took too long")
        return CheckResult.fail(f"The GPU check's task {task_id[:8]} did not finish in "
                                f"{TIMEOUT // 60} minutes.")  # fmt: skip
    lines = logs_mod.Tail(ctx, f"{taskdef.TRAIN}/{taskdef.CONTAINER}/{task_id}",
                          since_seconds=TIMEOUT + 60).poll()  # fmt: skip
    found = next((json.loads(line.message[line.message.index(MARK) + len(MARK):])
                  for line in lines if MARK in line.message), None)  # fmt: skip
    if found is None:
        return CheckResult.fail(f"The GPU check's task {task_id[:8]} printed no result: "
                                f"{described[0].get('stoppedReason', '')}.")  # fmt: skip
    if not found.get("gpus"):
        return CheckResult.fail("MXNet saw no GPU in the task: is the pushed image the one "
                                "built from Dockerfile.gpu?")  # fmt: skip
    return CheckResult.ok(f"MXNet sees {found['gpus']} GPU(s), {found.get('name', '?')}; a "
                          f"ResNet-18 forward pass of 8 images took {found['forward_ms']} ms")
