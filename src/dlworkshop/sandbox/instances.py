"""The sandbox's container instances: a loopback address, an ECS agent and an SSH endpoint.

On AWS an instance launched by the workshop's Auto Scaling group boots the ECS agent,
which reads ECS_CLUSTER from the user data and registers the instance with the cluster;
the instance answers SSH on its public address. moto launches instances that nothing
answers for. This agent gives each running instance whose user data names a cluster its
own loopback address (127.x.y.z, written into moto as its private and public address),
registers it as the ECS agent would, and serves SSH on that address; when the instance
stops or is terminated, the endpoint closes and the instance is deregistered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import os
import random
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from typing import Any

from dlworkshop.sandbox import runtime as rt
from dlworkshop.sandbox import ssh
from dlworkshop.sandbox.agent import Agent

PROBED_PORTS = (22, 8080, 8888)  # an address where any of these answers is someone's
_random = random.SystemRandom()
CPU_UNITS_PER_VCPU = 1024
AGENT_MEMORY_MIB = 256  # what the ECS agent and the OS keep for themselves
DOCKER_API_VERSIONS = ("1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24",
                       "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32")  # fmt: skip
_CLUSTER = re.compile(r"^\s*ECS_CLUSTER=(\S+)\s*$", re.M)


def cluster_of(user_data: Any) -> str:
    """The cluster the instance's ECS agent would join, from ECS_CLUSTER in its user data."""
    if not user_data:
        return ""
    text = str(user_data[0] if isinstance(user_data, list) else user_data)
    with contextlib.suppress(ValueError):
        text = base64.b64decode(text, validate=True).decode(errors="replace")
    found = _CLUSTER.search(text)
    return found.group(1).strip("'\"") if found else ""


def _in_use(address: str) -> bool:
    """Something answers on the address (loopback refuses at once when nothing does)."""
    for port in PROBED_PORTS:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((address, port)) == 0:
                return True
    return False


def ssh_port(address: str) -> int:
    """22 where this machine lets the sandbox bind it on the instance's address, else a free
    port (told through the instance's tag and `sandbox status`)."""
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, 22))
            return 22
        except OSError:
            s.close()
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@dataclass
class Running:
    """An instance the agent looks after."""

    instance_id: str
    region: str
    cluster: str
    address: str
    port: int
    acceptor: Any = None
    endpoint: Any = None  # the ssh.Instance it serves
    container_instance_arn: str = ""


class InstanceAgent(Agent):
    """Keeps moto's running instances registered, addressed and reachable over SSH."""

    name = "instances"

    def __init__(self, runtime: rt.Runtime, docker_socket: str = "") -> None:
        super().__init__(runtime)
        self.docker_socket = docker_socket
        self.running: dict[str, Running] = {}
        self._addresses: dict[str, str] = {}  # instance id -> address, never reused
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="ssh",
                                             daemon=True)  # fmt: skip

    def start(self) -> None:
        # moto starts empty: host keys of an earlier sandbox's instances are no one's now.
        for folder in (self.runtime.home / "instances").glob("i-*"):
            shutil.rmtree(folder, ignore_errors=True)
        self._loop_thread.start()
        super().start()

    def address_of(self, instance_id: str) -> str:
        return self._addresses.get(instance_id, "")

    def _address(self, instance_id: str) -> str:
        """A loopback address of its own, drawn from 127.16.0.0 to 127.254.255.255.

        Drawn at random and checked to be unused, so that two sandboxes on one machine (a
        learner's and the tests', or one killed and its successor) never share one: their
        containers would fight for port 8080, and a new instance on an old address would
        present another host key there, which SSH rightly refuses.
        """
        if instance_id not in self._addresses:
            taken = set(self._addresses.values())
            for _ in range(1000):
                octets = (_random.randint(16, 254), _random.randint(0, 255),
                          _random.randint(1, 254))  # fmt: skip
                candidate = "127.{}.{}.{}".format(*octets)
                if candidate not in taken and not _in_use(candidate):
                    break
            else:
                raise RuntimeError("no free loopback address for an instance")
            self._addresses[instance_id] = candidate
        return self._addresses[instance_id]

    def is_up(self, instance_id: str) -> bool:
        """The instance runs (a task on one that does not is stopped)."""
        return instance_id in self.running

    def sync(self) -> None:
        alive: set[str] = set()
        stopped: set[str] = set()
        for region, ec2 in rt.backends("ec2"):
            for reservation in list(ec2.reservations.values()):
                for inst in list(reservation.instances):
                    cluster = cluster_of(getattr(inst, "user_data", None))
                    if not cluster:
                        continue
                    if inst.state in ("stopping", "stopped"):
                        stopped.add(inst.id)
                    if inst.state != "running":
                        continue
                    alive.add(inst.id)
                    if inst.id not in self.running:
                        self._bring_up(region, ec2, inst, cluster)
                    self._ensure_registered(self.running[inst.id], inst)
        for instance_id in [i for i in self.running if i not in alive]:
            # A stopped instance stays in its cluster, its agent disconnected, as on AWS;
            # a terminated one leaves it.
            self._take_down(self.running.pop(instance_id), leave=instance_id not in stopped)

    # ---- up --------------------------------------------------------------------------------
    def _bring_up(self, region: str, ec2: Any, inst: Any, cluster: str) -> None:
        address = self._address(inst.id)
        nic = inst.nics[0]
        nic.private_ip_address = address
        nic.public_ip = address
        port = ssh_port(address)
        running = Running(inst.id, region, cluster, address, port)
        key = ec2.key_pairs.get(inst.key_name) if getattr(inst, "key_name", None) else None
        if key is not None:
            endpoint = ssh.Instance(
                inst.id, address, key.material_public,
                self.runtime.home / "instances" / inst.id / "home", self.docker_socket,
                {"DOCKER_HOST": os.environ.get("DOCKER_HOST", "")},
            )  # fmt: skip
            host_key = ssh.host_key(self.runtime.home / "instances" / inst.id / "ssh_host_key")
            running.endpoint = endpoint
            running.acceptor = asyncio.run_coroutine_threadsafe(
                ssh.serve(endpoint, port, host_key), self._loop).result(30)  # fmt: skip
        else:
            self.problem = f"{inst.id} has no key pair: it takes no SSH"
        if port != 22:
            # A tag says where SSH is when it cannot be on 22 (sshd of this machine holds
            # it, or the sandbox may not bind low ports): remote/ reads it.
            ec2.create_tags([inst.id], {"dlworkshop:ssh-port": str(port)})
        self.running[inst.id] = running

    def _ensure_registered(self, running: Running, inst: Any) -> None:
        """Register with the cluster, as the ECS agent does at boot (once the cluster exists)."""
        ecs = rt.backend("ecs", running.region)
        if running.cluster not in ecs.clusters:
            return
        registered = ecs.container_instances.get(running.cluster, {})
        for ci in registered.values():
            if ci.ec2_instance_id == running.instance_id and ci.status == "ACTIVE":
                running.container_instance_arn = ci.container_instance_arn
                ci.agent_connected = True  # back after a stop: the agent reconnects
                return
        client = self.runtime.client("ecs", running.region)
        resources = self._resources(running.region, inst.instance_type)
        attributes = ([f"com.amazonaws.ecs.capability.docker-remote-api.{v}"
                       for v in DOCKER_API_VERSIONS]
                      + ["com.amazonaws.ecs.capability.logging-driver.awslogs",
                         "ecs.capability.execution-role-awslogs",
                         "ecs.capability.task-iam-role"])  # fmt: skip
        version = {"agentVersion": "1.89.2 (dlworkshop sandbox)", "agentHash": "sandbox",
                   "dockerVersion": "DockerVersion: sandbox"}  # fmt: skip
        answer = client.register_container_instance(
            cluster=running.cluster,
            instanceIdentityDocument=json.dumps(self._identity(running, inst)),
            instanceIdentityDocumentSignature="dlworkshop-sandbox",
            totalResources=resources, versionInfo=version,
            attributes=[{"name": name} for name in attributes],
        )  # fmt: skip
        running.container_instance_arn = answer["containerInstance"]["containerInstanceArn"]
        # moto records none of what the agent registers: write it into its model, so that
        # placement and describe_container_instances see the instance's real size.
        model = ecs.container_instances[running.cluster][running.container_instance_arn.split(
            "/")[-1]]  # fmt: skip
        full = [{"doubleValue": 0.0, "longValue": 0, "integerValue": 0, "stringSetValue": [],
                 **r} for r in resources]  # fmt: skip
        model.registered_resources = full
        model.remaining_resources = copy.deepcopy(full)
        model.version_info = version
        model.attributes.update({name: None for name in attributes})

    def _identity(self, running: Running, inst: Any) -> dict:
        return {
            "instanceId": inst.id, "instanceType": inst.instance_type,
            "imageId": inst.image_id, "region": running.region,
            "availabilityZone": inst.placement.availability_zone, "privateIp": running.address,
            "accountId": rt.ACCOUNT, "architecture": "x86_64",
        }  # fmt: skip

    def _resources(self, region: str, instance_type: str) -> list[dict]:
        """CPU units, memory (less the agent's share) and GPUs of the instance type."""
        vcpus, memory, gpus = 2, 8192, 0
        with contextlib.suppress(Exception):
            info = self.runtime.client("ec2", region).describe_instance_types(
                InstanceTypes=[instance_type])["InstanceTypes"][0]  # fmt: skip
            vcpus = info["VCpuInfo"]["DefaultVCpus"]
            memory = info["MemoryInfo"]["SizeInMiB"]
            gpus = sum(g.get("Count", 0) for g in info.get("GpuInfo", {}).get("Gpus", []))
        resources: list[dict] = [
            {"name": "CPU", "type": "INTEGER", "integerValue": vcpus * CPU_UNITS_PER_VCPU},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": memory - AGENT_MEMORY_MIB},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376",
                                                                     "51678", "51679"]},
        ]  # fmt: skip
        if gpus:
            resources.append({"name": "GPU", "type": "STRINGSET",
                              "stringSetValue": [f"GPU-{n}" for n in range(gpus)]})  # fmt: skip
        return resources

    # ---- down ------------------------------------------------------------------------------
    def _close(self, running: Running) -> None:
        if running.acceptor is not None:
            acceptor, running.acceptor = running.acceptor, None
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(ssh.close(running.endpoint, acceptor),
                                                 self._loop).result(10)  # fmt: skip

    def _take_down(self, running: Running, leave: bool = True) -> None:
        """The instance stopped (its agent disconnects) or is gone (ECS forgets it); its SSH
        closes either way."""
        self._close(running)
        ecs = rt.backend("ecs", running.region)
        ci_id = running.container_instance_arn.split("/")[-1]
        registered = ecs.container_instances.get(running.cluster, {})
        if not leave:
            if ci_id in registered:
                registered[ci_id].agent_connected = False
            return
        # A terminated instance never comes back, nor does its host key.
        shutil.rmtree(self.runtime.home / "instances" / running.instance_id, ignore_errors=True)
        if ci_id and ci_id in registered:
            with contextlib.suppress(Exception):  # the cluster may go meanwhile
                self.runtime.client("ecs", running.region).deregister_container_instance(
                    cluster=running.cluster, containerInstance=running.container_instance_arn,
                    force=True)  # fmt: skip

    def stop(self) -> None:
        super().stop()
        for running in self.running.values():
            self._close(running)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(5)

    def status(self) -> dict:
        return {**super().status(), "instances": [
            {"id": r.instance_id, "region": r.region, "cluster": r.cluster,
             "address": r.address, "ssh_port": r.port if r.acceptor else None,
             "registered": bool(r.container_instance_arn)}
            for r in self.running.values()]}  # fmt: skip
