"""The sandbox behaves like AWS from the inside: each agent against the real moto server,
a real Docker engine and real SSH, reached only through plain boto3 and plain clients."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import ipaddress
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from conftest import needs_engine

from dlworkshop import state as state_store
from dlworkshop.aws import keypairs
from dlworkshop.aws import stack as ops
from dlworkshop.container.build import SANDBOX_BASE
from dlworkshop.context import Context
from dlworkshop.sandbox import lifecycle
from dlworkshop.target import SANDBOX, Target

pytestmark = pytest.mark.slow  # real servers, engines or terminals

REGION = "us-east-1"


def plain(service: str, endpoint: str):
    """boto3 as any AWS program would make it, pointed at the sandbox."""
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="any", aws_secret_access_key="any")  # fmt: skip


def deploy(endpoint: str, name: str) -> tuple[Context, str]:
    """A workshop stack with a key pair of its own; returns the context and the key file."""
    ctx = Context(Target(SANDBOX, REGION, endpoint=endpoint), state_store.load().state)
    key = keypairs.ensure(ctx, name)
    events = list(ops.deploy(ctx, name, {"KeyName": name, "SourceCidr": "127.0.0.1/32"},
                             sleep=time.sleep))  # fmt: skip
    assert type(events[-1]).__name__ == "ContainerInstances", events[-3:]
    assert key.path
    return ctx, key.path


def instances_of(endpoint: str, stack: str) -> list[dict]:
    """The stack's running instances as describe_instances tells them."""
    found = plain("ec2", endpoint).describe_instances(Filters=[
        {"Name": "tag:dlworkshop:stack", "Values": [stack]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]  # fmt: skip
    return sorted((i for r in found for i in r["Instances"]), key=lambda i: i["InstanceId"])


def ssh_port(instance: dict) -> int:
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return int(tags.get("dlworkshop:ssh-port", 22))


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not met within {timeout} s")


def described(ecs, cluster: str, arns: list[str]) -> list[dict]:
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]


# ---- the front -------------------------------------------------------------------------
def test_moto_api_is_closed_to_a_plain_client_and_hands_out_no_key(sandbox: dict) -> None:
    ec2 = plain("ec2", sandbox["endpoint"])
    ec2.create_key_pair(KeyName="front-probe")
    for path in ("/moto-api/data.json", "/moto-api/config", "/moto-api/reset",
                 "/dlworkshop/status"):  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(sandbox["endpoint"] + path, timeout=10)
        assert refused.value.code == 403
        assert b"PRIVATE KEY" not in refused.value.read()
    # The sandbox's own client has the secret; describe_key_pairs never had key material.
    status = lifecycle.status(lifecycle.SandboxInfo.from_record(sandbox))
    assert {a["name"] for a in status["agents"]} == {"cloudformation", "account", "ecr", "logs",
                                                      "instances", "tasks"}  # fmt: skip
    assert "KeyMaterial" not in ec2.describe_key_pairs(KeyNames=["front-probe"])["KeyPairs"][0]


def test_the_source_cidr_comes_from_the_sandboxs_checkip(sandbox: dict) -> None:
    from dlworkshop.aws.network import default_source_cidr

    ctx = Context(Target(SANDBOX, REGION, endpoint=sandbox["endpoint"]))
    cidr, how = default_source_cidr(ctx)
    assert cidr == "127.0.0.1/32" and sandbox["endpoint"] in how


# ---- CloudFormation ----------------------------------------------------------------------
def test_a_failed_create_rolls_back_and_leaves_nothing(sandbox: dict) -> None:
    cfn = plain("cloudformation", sandbox["endpoint"])
    ctx = Context(Target(SANDBOX, REGION, endpoint=sandbox["endpoint"]))
    from dlworkshop.cfn import template

    cfn.create_stack(StackName="rollback", TemplateBody=template.body(), Parameters=[
        {"ParameterKey": "KeyName", "ParameterValue": "none"},
        {"ParameterKey": "SourceCidr", "ParameterValue": "300.1.2.3/32"}],
        Capabilities=["CAPABILITY_IAM"])  # fmt: skip
    stack = cfn.describe_stacks(StackName="rollback")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="rollback")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed and "invalid CIDR" in failed[0]["ResourceStatusReason"]
    assert failed[0]["LogicalResourceId"] == "InstanceSecurityGroup"
    ec2 = ctx.client("ec2")
    tagged = [{"Name": "tag:aws:cloudformation:stack-name", "Values": ["rollback"]}]
    assert not ec2.describe_vpcs(Filters=tagged)["Vpcs"]
    assert not ec2.describe_subnets(Filters=tagged)["Subnets"]
    cfn.delete_stack(StackName="rollback")
    assert ops.describe(ctx, "rollback") is None


# ---- instances and SSH -----------------------------------------------------------------
async def _ssh(host: str, port: int, key: str, command: str, known_hosts=None) -> str:
    import asyncssh

    async with asyncssh.connect(host, port, username="ec2-user", client_keys=[key],
                                known_hosts=known_hosts, agent_path=None) as conn:  # fmt: skip
        result = await conn.run(command, check=True, timeout=30)
        return str(result.stdout)


def test_instances_answer_ssh_with_the_stacks_key_only(sandbox: dict, tmp_path: Path) -> None:
    import asyncssh

    endpoint = sandbox["endpoint"]
    ctx, key = deploy(endpoint, "ssh-lab")
    first, second = instances_of(endpoint, "ssh-lab")
    for inst in (first, second):
        address = inst["PublicIpAddress"]
        assert address == inst["PrivateIpAddress"]
        assert ipaddress.ip_address(address).is_loopback and address != "127.0.0.1"
    host, port = first["PublicIpAddress"], ssh_port(first)

    # The right key runs commands; the host key is the instance's own and stays so.
    out = asyncio.run(_ssh(host, port, key, "hostname; echo $USER; echo ok > probe; cat probe"))
    assert out.splitlines()[1:] == ["ec2-user", "ok"]
    seen = asyncio.run(asyncssh.get_server_host_key(host, port))
    assert seen.get_fingerprint() == asyncio.run(
        asyncssh.get_server_host_key(host, port)).get_fingerprint()  # fmt: skip
    other = asyncio.run(asyncssh.get_server_host_key(second["PublicIpAddress"],
                                                     ssh_port(second)))  # fmt: skip
    assert other.get_fingerprint() != seen.get_fingerprint()

    # Any other key, or any other user, is refused.
    stranger = tmp_path / "stranger"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(_ssh(host, port, str(stranger), "true"))

    async def as_root() -> None:
        async with asyncssh.connect(host, port, username="root", client_keys=[key],
                                    known_hosts=None, agent_path=None):  # fmt: skip
            pass

    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(as_root())

    # A forward to the instance's port 8080 ("localhost" there) reaches a server on it.
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"served on the instance")

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 8080), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def forwarded() -> bytes:
        async with asyncssh.connect(host, port, username="ec2-user", client_keys=[key],
                                    known_hosts=None, agent_path=None) as conn:  # fmt: skip
            listener = await conn.forward_local_port("127.0.0.1", 0, "localhost", 8080)
            local = listener.get_port()
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10).read())
            # Nothing off loopback is reached through an instance.
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_connection("10.0.0.1", 22)
            listener.close()
            return body

    try:
        assert asyncio.run(forwarded()) == b"served on the instance"
    finally:
        server.shutdown()

    # The same works with OpenSSH's client, as a learner would type it.
    if subprocess.run(["which", "ssh"], capture_output=True).returncode == 0:
        out = subprocess.run(
            ["ssh", "-i", key, "-p", str(port), "-o", "StrictHostKeyChecking=no",
             "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}", "-o", "BatchMode=yes",
             f"ec2-user@{host}", "echo", "hello from", "$HOSTNAME"],
            capture_output=True, text=True, timeout=30)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"hello from ip-{host.replace('.', '-')}"

    # Terminating the instance closes its endpoint, and ECS forgets it.
    plain("ec2", endpoint).terminate_instances(InstanceIds=[first["InstanceId"]])

    def closed() -> bool:
        with contextlib.suppress(OSError), __import__("socket").create_connection(
                (host, port), timeout=1):  # fmt: skip
            return False
        return True

    wait_for(closed, 10, "the terminated instance's SSH closing")
    cluster = ops.outputs(ops.describe(ctx, "ssh-lab"))["ClusterName"]
    registered = {c["ec2_instance_id"] for c in ops.container_instances(ctx, cluster)}
    assert first["InstanceId"] not in registered
    assert list(ops.delete(ctx, "ssh-lab", sleep=time.sleep))[-1].__class__.__name__ == \
        "StackDeleted"  # fmt: skip


# ---- tasks and logs ----------------------------------------------------------------------
@needs_engine
def test_tasks_run_on_docker_log_to_cloudwatch_and_stop(sandbox: dict) -> None:
    endpoint = sandbox["endpoint"]
    ctx, _ = deploy(endpoint, "task-lab")
    outs = ops.outputs(ops.describe(ctx, "task-lab"))
    cluster, group = outs["ClusterName"], outs["LogGroupName"]
    ecs, logs = plain("ecs", endpoint), plain("logs", endpoint)
    awslogs = {"logDriver": "awslogs", "options": {
        "awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": "lab3"}}

    # A container that prints and exits 3: its line in CloudWatch, its code in ECS.
    hello = ecs.register_task_definition(family="hello", networkMode="host",
        containerDefinitions=[{"name": "hello", "image": SANDBOX_BASE, "memory": 128,
            "command": ["python3", "-c", "print('hello from a task'); raise SystemExit(3)"],
            "logConfiguration": awslogs}])["taskDefinition"]  # fmt: skip
    task = ecs.run_task(cluster=cluster, taskDefinition=hello["taskDefinitionArn"])["tasks"][0]
    assert task["lastStatus"] == "PROVISIONING"
    seen = set()

    def stopped():
        t = described(ecs, cluster, [task["taskArn"]])[0]
        seen.add(t["lastStatus"])
        return t if t["lastStatus"] == "STOPPED" else None

    done = wait_for(stopped, 60, "the task stopping")
    assert done["containers"][0]["exitCode"] == 3
    assert done["stopCode"] == "EssentialContainerExited"
    assert done["stoppedReason"] == "Essential container in task exited"
    assert seen <= {"PROVISIONING", "PENDING", "RUNNING", "STOPPED"}
    stream = f"lab3/hello/{task['taskArn'].split('/')[-1]}"
    lines = [e["message"] for e in logs.get_log_events(logGroupName=group,
                                                       logStreamName=stream)["events"]]  # fmt: skip
    assert lines == ["hello from a task"]

    # Two tasks on two instances both bind port 8080, each on its instance's address.
    web = ecs.register_task_definition(family="web", networkMode="host",
        containerDefinitions=[{"name": "web", "image": SANDBOX_BASE, "memory": 128,
            "portMappings": [{"containerPort": 8080, "hostPort": 8080}],
            "command": ["sh", "-c", 'echo "serving on $DLWORKSHOP_BIND_ADDRESS"; exec python3 '
                        '-m http.server 8080 --bind "$DLWORKSHOP_BIND_ADDRESS"'],
            "logConfiguration": awslogs}])["taskDefinition"]  # fmt: skip
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    tasks = [ecs.start_task(cluster=cluster, taskDefinition=web["taskDefinitionArn"],
                            containerInstances=[arn])["tasks"][0]["taskArn"] for arn in arns]
    wait_for(lambda: all(t["lastStatus"] == "RUNNING" for t in described(ecs, cluster, tasks)),
             60, "both tasks running")  # fmt: skip
    for inst in instances_of(endpoint, "task-lab"):
        address = inst["PrivateIpAddress"]
        wait_for(lambda a=address: _answers(f"http://{a}:8080/"), 30, f"{address}:8080")
    # Nothing the sandbox runs listens outside 127.0.0.0/8.
    assert _listeners_outside_loopback(sandbox["pid"]) == []

    # stop_task stops the container and the task, with the reason given.
    for arn in tasks:
        ecs.stop_task(cluster=cluster, task=arn, reason="Lab 3 is done")
    finished = wait_for(lambda: [t for t in described(ecs, cluster, tasks)
                                 if t["lastStatus"] == "STOPPED"] == described(ecs, cluster, tasks)
                        and described(ecs, cluster, tasks), 60, "stop_task")  # fmt: skip
    assert {t["stoppedReason"] for t in finished} == {"Lab 3 is done"}
    assert {t["stopCode"] for t in finished} == {"UserInitiated"}
    assert not _answers(f"http://{instances_of(endpoint, 'task-lab')[0]['PrivateIpAddress']}:8080/")

    # A container that listens on every interface is stopped, saying why.
    wide = ecs.register_task_definition(family="wide", networkMode="host",
        containerDefinitions=[{"name": "wide", "image": SANDBOX_BASE, "memory": 128,
            "command": ["python3", "-m", "http.server", "18080", "--bind", "0.0.0.0"]}]
        )["taskDefinition"]  # fmt: skip
    arn = ecs.run_task(cluster=cluster, taskDefinition=wide["taskDefinitionArn"])["tasks"][0]
    gone = wait_for(lambda: [t for t in described(ecs, cluster, [arn["taskArn"]])
                             if t["lastStatus"] == "STOPPED"], 60, "the wide task stopping")
    assert "127.0.0.0/8 only" in gone[0]["stoppedReason"]
    assert list(ops.delete(ctx, "task-lab", sleep=time.sleep))[-1].__class__.__name__ == \
        "StackDeleted"  # fmt: skip


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _listeners_outside_loopback(sandbox_pid: int) -> list[str]:
    """TCP listeners (ss -ltnp) of the sandbox and its descendants that are not on loopback,
    plus any listener at all on 0.0.0.0:8080 or [::]:8080."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    tree = {str(sandbox_pid)}
    children = subprocess.run(["pgrep", "-P", str(sandbox_pid)], capture_output=True,
                              text=True).stdout.split()  # fmt: skip
    tree.update(children)
    bad = []
    for line in out.splitlines():
        fields = line.split()
        local = fields[3]
        host = local.rsplit(":", 1)[0].strip("[]").split("%")[0]
        ours = any(f"pid={p}," in line for p in tree)
        wildcard = host in ("*", "0.0.0.0", "::")
        if (wildcard and local.endswith(":8080")) or (
            ours and (wildcard or not ipaddress.ip_address(host).is_loopback)
        ):
            bad.append(line)
    return bad


def run_one(endpoint: str, stack: str, container: dict) -> tuple[object, str, str]:
    """Deploy `stack` and run one task of `container`: (ecs client, cluster, task ARN)."""
    ctx, _ = deploy(endpoint, stack)
    ecs = plain("ecs", endpoint)
    cluster = ops.outputs(ops.describe(ctx, stack))["ClusterName"]
    td = ecs.register_task_definition(family=container["name"],
                                      containerDefinitions=[container])["taskDefinition"]
    arn = ecs.run_task(cluster=cluster, taskDefinition=td["taskDefinitionArn"])["tasks"][0]
    return ecs, cluster, arn["taskArn"]


@needs_engine
def test_without_an_engine_a_task_stops_saying_why(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{home}/no-engine.sock")
    info, started = lifecycle.start(owner="test")
    try:
        assert started
        ecs, cluster, arn = run_one(info.endpoint, "no-engine",
                                    {"name": "x", "image": SANDBOX_BASE, "memory": 64})
        done = wait_for(lambda: [t for t in described(ecs, cluster, [arn])
                                 if t["lastStatus"] == "STOPPED"], 30, "the task failing")
        assert "no Docker engine" in done[0]["stoppedReason"]
        assert done[0]["stopCode"] == "TaskFailedToStart"
    finally:
        lifecycle.stop()


@needs_engine
def test_stopping_the_sandbox_stops_its_containers_and_endpoints(home: Path) -> None:
    import docker

    info, started = lifecycle.start(owner="test")
    try:
        assert started
        ecs, cluster, arn = run_one(info.endpoint, "stop-all", {
            "name": "sleeper", "image": SANDBOX_BASE, "memory": 64, "command": ["sleep", "600"]})
        wait_for(lambda: described(ecs, cluster, [arn])[0]["lastStatus"] == "RUNNING",
                 30, "the sleeper running")  # fmt: skip
        engine = docker.from_env()
        label = {"label": f"dlworkshop.sandbox.task={arn}"}
        assert engine.containers.list(filters=label)
        inst = instances_of(info.endpoint, "stop-all")[0]
        address, port = inst["PublicIpAddress"], ssh_port(inst)
    finally:
        lifecycle.stop()
    assert not engine.containers.list(all=True, filters=label)
    with pytest.raises(OSError):
        __import__("socket").create_connection((address, port), timeout=2)


def test_gpu_instances_register_their_gpus_and_get_gpu_tasks(sandbox: dict) -> None:
    from dlworkshop.aws import taskdef

    endpoint = sandbox["endpoint"]
    ctx = Context(Target(SANDBOX, REGION, endpoint=endpoint), state_store.load().state)
    keypairs.ensure(ctx, "gpu-lab")
    params = {"KeyName": "gpu-lab", "SourceCidr": "127.0.0.1/32", "InstanceCount": "1",
              "InstanceType": "g4dn.xlarge", "UseGpu": "true"}  # fmt: skip
    assert type(list(ops.deploy(ctx, "gpu-lab", params, sleep=time.sleep))[-1]).__name__ == \
        "ContainerInstances"  # fmt: skip
    cluster = ops.outputs(ops.describe(ctx, "gpu-lab"))["ClusterName"]
    ecs = plain("ecs", endpoint)
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    described_ci = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
    resources = {r["name"]: r for r in described_ci["containerInstances"][0]["registeredResources"]}
    assert resources["GPU"]["stringSetValue"] == ["GPU-0"]  # one T4 in a g4dn.xlarge
    assert resources["CPU"]["integerValue"] == 4 * 1024
    # Lab 3's task definition asks for the GPU and serves with --gpu.
    state_store.update(lambda s: setattr(s, "stack_name", "gpu-lab"))
    ctx = Context(ctx.target, state_store.load().state)
    image = taskdef.Image("123456789012.dkr.ecr.us-east-1.amazonaws.com/gpu-lab-mxnet",
                          "sha256:" + "0" * 64, "latest")  # fmt: skip
    container = taskdef.build(ctx, taskdef.SERVE, image)["containerDefinitions"][0]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert container["command"][-1] == "--gpu"
    assert list(ops.delete(ctx, "gpu-lab", sleep=time.sleep))[-1].__class__.__name__ == \
        "StackDeleted"  # fmt: skip
