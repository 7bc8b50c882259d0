"""The sandbox's ECS agent for tasks: what run_task records really runs on Docker.

moto records a task as RUNNING at once and runs nothing. This agent holds a new task at
PROVISIONING, then on the sandbox's Docker engine pulls each container's image (ECR
names are pulled from the sandbox's registry with ECR's token), starts it with host
networking on its instance (DLWORKSHOP_BIND_ADDRESS tells it the instance's loopback
address to listen on), honours environment, command, entry point, memory, health check
and awslogs, and moves the task through PENDING, RUNNING and STOPPED with each
container's exit code, health and a stoppedReason, as the ECS agent reports them.
stop_task stops the containers; a container that exits stops its task.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlworkshop.sandbox import logs
from dlworkshop.sandbox import runtime as rt
from dlworkshop.sandbox.agent import Agent

LABEL = "dlworkshop.sandbox.task"
OWNER_LABEL = "dlworkshop.sandbox.pid"
BIND_VARIABLE = "DLWORKSHOP_BIND_ADDRESS"
ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/(.+)$")
NO_ENGINE = ("The sandbox has no Docker engine to run tasks on ({}). Start the project's "
             "own with `scripts/sandbox-docker.sh start`, set DOCKER_HOST to what it prints, "
             "and restart the sandbox.")  # fmt: skip
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL, as ECS_CONTAINER_STOP_TIMEOUT
NANOS = 1_000_000_000


def _now() -> datetime:
    return datetime.now(UTC)


def local_image(image: str, registry: str) -> tuple[str, str]:
    """(what to pull, the account whose ECR token pulls it): ECR names map to the
    sandbox's registry; other names are used as they are."""
    found = ECR_IMAGE.match(image)
    if found and registry:
        return f"{registry}/{found.group(2)}", found.group(1)
    return image, ""


@dataclass
class Work:
    """One task the agent runs: moto's task, where it runs, its containers and shippers."""

    task: Any
    region: str
    instance_id: str
    address: str
    definitions: list[dict]
    role: str = ""  # the task role's ARN
    containers: dict[str, Any] = field(default_factory=dict)  # name -> Docker container
    shippers: list[logs.Shipper] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)  # loopback registry names it pulled
    thread: threading.Thread | None = None
    stopping: bool = False
    done: bool = False


class TaskAgent(Agent):
    """Starts, watches and stops the containers of moto's tasks."""

    name = "tasks"

    def __init__(self, runtime: rt.Runtime, address_of: Callable[[str], str],
                 engine: Callable[[], Any],
                 is_up: Callable[[str], bool] = lambda instance_id: True,
                 credentials: Any = None) -> None:  # fmt: skip
        super().__init__(runtime)
        self.credentials = credentials  # TaskCredentials: a task role's, as ECS serves them
        self.address_of = address_of  # EC2 instance id -> its loopback address
        self.is_up = is_up  # whether the instance runs
        self.engine = engine  # the Docker SDK client of the sandbox's engine
        self.work: dict[str, Work] = {}  # task ARN -> Work
        self._originals: list[tuple[str, Callable]] = []
        self._client: Any = None

    # ---- moto's side -------------------------------------------------------------------
    def start(self) -> None:
        from moto.ecs.models import EC2ContainerServiceBackend
        from moto.moto_api import state_manager

        # The agent moves tasks on; moto must not advance them by itself.
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**9})
        for name in ("run_task", "start_task"):
            original = getattr(EC2ContainerServiceBackend, name)
            self._originals.append((name, original))
            setattr(EC2ContainerServiceBackend, name, self._held(original))
        original = EC2ContainerServiceBackend.stop_task
        self._originals.append(("stop_task", original))
        setattr(EC2ContainerServiceBackend, "stop_task", self._stop_wrapper(original))  # noqa: B010
        self._remove_strays()
        super().start()

    def _held(self, original: Callable) -> Callable:
        agent = self

        @functools.wraps(original)
        def launch(backend: Any, *args: Any, **kwargs: Any) -> list[Any]:
            tasks = original(backend, *args, **kwargs)
            for task in tasks:
                task.last_status = "PROVISIONING"
                task.created_at = _now()
                for container in task.containers:
                    container.last_status = "PENDING"
                    container.health_status = "UNKNOWN"
            agent.kick()
            return tasks

        return launch

    def _stop_wrapper(self, original: Callable) -> Callable:
        agent = self

        @functools.wraps(original)
        def stop_task(backend: Any, cluster_str: str, task_str: str, reason: str) -> Any:
            task = original(backend, cluster_str, task_str, reason)
            work = agent.work.get(task.task_arn)
            if work is not None and not work.done:
                # On AWS the task stays RUNNING, desired STOPPED, until its containers end.
                task.last_status = "DEACTIVATING" if work.containers else "STOPPED"
                task.stop_code = "UserInitiated"
                task.stopped_reason = reason or "Task stopped by user"
                task.stopping_at = _now()
                agent.kick()
            return task

        return stop_task

    def stop(self) -> None:
        from moto.ecs.models import EC2ContainerServiceBackend

        super().stop()
        for name, original in self._originals:
            setattr(EC2ContainerServiceBackend, name, original)
        for work in list(self.work.values()):
            if not work.done:
                self._stop_containers(work, "The sandbox stopped")
                self._finish(work, "The sandbox stopped", "TerminationNotice")

    # ---- the engine ----------------------------------------------------------------------
    def _docker(self) -> Any:
        if self._client is None:
            self._client = self.engine()
        return self._client

    def _remove_strays(self) -> None:
        """Containers an earlier sandbox started and could not stop (it was killed)."""
        with contextlib.suppress(Exception):
            for c in self._docker().containers.list(all=True, filters={"label": LABEL}):
                if not _alive(int(c.labels.get(OWNER_LABEL, "0") or 0)):
                    c.remove(force=True)

    # ---- the loop --------------------------------------------------------------------------
    def sync(self) -> None:
        for region, ecs in rt.backends("ecs"):
            for cluster_tasks in list(ecs.tasks.values()):
                for task in list(cluster_tasks.values()):
                    self._sync_task(region, ecs, task)

    def _sync_task(self, region: str, ecs: Any, task: Any) -> None:
        work = self.work.get(task.task_arn)
        if work is None:
            if task.last_status != "PROVISIONING" or task.desired_status == "STOPPED":
                if task.last_status == "PROVISIONING":  # stopped before it started
                    task.last_status = "STOPPED"
                return
            work = self._new_work(region, ecs, task)
            self.work[task.task_arn] = work
            work.thread = threading.Thread(target=self._launch, args=(work,),
                                           name=f"task-{task.id[:8]}", daemon=True)  # fmt: skip
            work.thread.start()
            return
        if work.done or (work.thread and work.thread.is_alive()):
            return
        if task.desired_status == "STOPPED" and not work.stopping:
            work.stopping = True
            threading.Thread(target=self._stop_and_finish, args=(work,), daemon=True).start()
            return
        if not work.stopping and work.instance_id and not self.is_up(work.instance_id):
            # Its instance stopped or went away: so do its containers, as on AWS.
            work.stopping = True
            task.desired_status, task.last_status = "STOPPED", "DEACTIVATING"
            reason = f"Host EC2 (instance {work.instance_id}) stopped or terminated."
            threading.Thread(target=self._stop_and_finish, args=(work, reason, "TerminationNotice"),
                             daemon=True).start()  # fmt: skip
            return
        if not work.stopping:
            self._watch(work)

    def _new_work(self, region: str, ecs: Any, task: Any) -> Work:
        definition = ecs.describe_task_definition(task.task_definition_arn)
        instance_id = ""
        if task.container_instance_arn:
            ci_id = task.container_instance_arn.split("/")[-1]
            ci = ecs.container_instances.get(task.cluster_name, {}).get(ci_id)
            instance_id = ci.ec2_instance_id if ci else ""
        definitions = [dict(d) for d in definition.container_definitions]
        overrides = {o.get("name"): o for o in
                     (task.overrides or {}).get("containerOverrides", [])}  # fmt: skip
        for d in definitions:
            o = overrides.get(d.get("name"), {})
            if o.get("command"):
                d["command"] = o["command"]
            if o.get("environment"):
                env = {e["name"]: e["value"] for e in d.get("environment") or []}
                env.update({e["name"]: e["value"] for e in o["environment"]})
                d["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        if definition.memory and not any(d.get("memory") for d in definitions):
            definitions[0]["memory"] = int(definition.memory)
        from moto.ecs.models import Container

        containers = []
        for d in definitions:  # moto keeps only the first definition's container
            c = Container(definition)  # type: ignore[abstract]  # moto builds it so, too
            c.name, c.image, c.command = d.get("name"), d.get("image"), d.get("command")
            c.last_status, c.health_status = "PENDING", "UNKNOWN"
            c.exitCode = None  # type: ignore[assignment]  # no exit code until it stops
            containers.append(c)
        task.containers = containers
        return Work(task, region, instance_id, self.address_of(instance_id), definitions,
                    getattr(definition, "task_role_arn", None) or "")  # fmt: skip

    # ---- start -----------------------------------------------------------------------------
    def _launch(self, work: Work) -> None:
        task = work.task
        try:
            client = self._docker()
        except Exception as exc:
            self._finish(work, NO_ENGINE.format(exc), "TaskFailedToStart")
            return
        if not work.address:
            self._finish(work, "The task has no container instance the sandbox knows.",
                         "TaskFailedToStart")  # fmt: skip
            return
        task.last_status = "PENDING"
        task.pull_started_at = _now()
        for d in work.definitions:
            try:
                pulled = self._pull(client, d["image"])
                if pulled:
                    work.pulled.append(pulled)
            except Exception as exc:
                self._finish(work, f"CannotPullContainerError: {d['image']}: {exc}",
                             "TaskFailedToStart")  # fmt: skip
                return
        task.pull_stopped_at = _now()
        for moto_container, d in zip(task.containers, work.definitions, strict=True):
            if task.desired_status == "STOPPED":
                break
            try:
                destination = logs.Destination.of(d, work.region, task.id)
                if destination is not None:
                    logs.prepare(self.runtime.client, destination)
                container = client.containers.run(**self._run_arguments(work, d), detach=True)
            except Exception as exc:
                self._stop_containers(work, "")
                self._finish(work, f"CannotStartContainerError: {d.get('name')}: {exc}",
                             "TaskFailedToStart")  # fmt: skip
                return
            work.containers[d["name"]] = container
            moto_container.last_status = "RUNNING"
            moto_container.runtime_id = container.id
            if destination is not None:
                work.shippers.append(logs.Shipper(self.runtime.client, container, destination))
        if task.desired_status == "STOPPED":
            self._stop_and_finish(work)
            return
        task.last_status = "RUNNING"
        task.started_at = _now()
        task.connectivity, task.connectivity_at = "CONNECTED", _now()
        self.kick()

    def _pull(self, client: Any, image: str) -> str:
        """Pull the image as ECS would; returns the sandbox-registry name it pulled, if any."""
        from docker.errors import ImageNotFound

        name, account = local_image(image, self.runtime.registry)
        if not account:
            try:
                client.images.get(name)
                return ""  # present on the engine: a local or earlier image
            except ImageNotFound:
                pass
        auth = {"username": "AWS", "password": f"{account}-auth-token"} if account else None
        repository, tag = _split(name)
        client.images.pull(repository, tag=tag, auth_config=auth)
        return name if account else ""

    def _run_arguments(self, work: Work, d: dict) -> dict:
        env = {e["name"]: e["value"] for e in d.get("environment") or []}
        env[BIND_VARIABLE] = work.address  # host networking on the instance's own address
        env["ECS_CONTAINER_METADATA_URI_V4"] = ""  # no metadata endpoint in the sandbox
        # The task's AWS is the sandbox's, at its endpoint (the one thing a container must be
        # told here); its credentials are its role's, from the endpoint ECS would give; and
        # there is no instance metadata service to try.
        env["AWS_ENDPOINT_URL"] = self.runtime.endpoint
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        if work.role and self.credentials is not None:
            env.update(self.credentials.issue(work.task.task_arn, work.role, work.region))
        arguments: dict[str, Any] = {
            "image": local_image(d["image"], self.runtime.registry)[0],
            "name": f"ecs-{work.task.id[:12]}-{d['name']}",
            "environment": env,
            "network_mode": "host",
            "labels": {LABEL: work.task.task_arn, OWNER_LABEL: str(os.getpid())},
            "hostname": f"ip-{work.address.replace('.', '-')}",
        }
        if d.get("command"):
            arguments["command"] = d["command"]
        if d.get("entryPoint"):
            arguments["entrypoint"] = d["entryPoint"]
        if d.get("workingDirectory"):
            arguments["working_dir"] = d["workingDirectory"]
        if d.get("user"):
            arguments["user"] = d["user"]
        if (d.get("linuxParameters") or {}).get("initProcessEnabled"):
            arguments["init"] = True  # as the ECS agent: docker run --init
        if d.get("memory"):
            arguments["mem_limit"] = f"{int(d['memory'])}m"
        if d.get("memoryReservation"):
            arguments["mem_reservation"] = f"{int(d['memoryReservation'])}m"
        check = d.get("healthCheck")
        if check:
            arguments["healthcheck"] = {
                "test": check["command"],
                "interval": int(check.get("interval", 30)) * NANOS,
                "timeout": int(check.get("timeout", 5)) * NANOS,
                "retries": int(check.get("retries", 3)),
                "start_period": int(check.get("startPeriod", 0)) * NANOS,
            }
        return arguments

    # ---- watch -----------------------------------------------------------------------------
    def _watch(self, work: Work) -> None:
        """Health, exits and listeners of a running task's containers."""
        from docker.errors import NotFound

        task = work.task
        exited = None
        for moto_container, d in zip(task.containers, work.definitions, strict=True):
            container = work.containers.get(d["name"])
            if container is None:
                continue
            try:
                container.reload()
            except NotFound:
                moto_container.last_status = "STOPPED"
                exited = exited or (d, "the container was removed outside ECS")
                continue
            state = container.attrs.get("State", {})
            # ECS reports a container's health only when its definition asks for a check;
            # the image's own HEALTHCHECK (the server's /ping) still runs, unreported.
            health = (state.get("Health") or {}).get("Status", "") if d.get("healthCheck") else ""
            moto_container.health_status = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get(
                health, "UNKNOWN")  # fmt: skip
            if state.get("Status") in ("exited", "dead"):
                moto_container.last_status = "STOPPED"
                moto_container.exitCode = moto_container.exit_code = state.get("ExitCode")
                if state.get("OOMKilled"):
                    moto_container.reason = "OutOfMemoryError: Container killed due to memory usage"
                if d.get("essential", True):
                    exited = exited or (d, "Essential container in task exited")
            elif (outside := _listening_outside_loopback(state.get("Pid", 0))):
                exited = exited or (d, f"{d['name']} listened on {outside}; the sandbox lets "
                                       f"containers listen on 127.0.0.0/8 only: bind to "
                                       f"${BIND_VARIABLE}.")  # fmt: skip
        health = {c.health_status for c in task.containers}
        task.health_status = ("UNHEALTHY" if "UNHEALTHY" in health else
                              "HEALTHY" if health == {"HEALTHY"} else "UNKNOWN")  # fmt: skip
        if exited is not None:
            work.stopping = True
            _, reason = exited
            task.desired_status = "STOPPED"
            task.last_status = "DEACTIVATING"
            threading.Thread(target=self._stop_and_finish, args=(work, reason), daemon=True
                             ).start()  # fmt: skip

    # ---- stop ------------------------------------------------------------------------------
    def _stop_containers(self, work: Work, reason: str) -> None:
        for moto_container, d in zip(work.task.containers, work.definitions, strict=True):
            container = work.containers.get(d["name"])
            if container is None:
                continue
            with contextlib.suppress(Exception):
                container.stop(timeout=STOP_TIMEOUT)
            with contextlib.suppress(Exception):
                container.reload()
                moto_container.exitCode = moto_container.exit_code = container.attrs["State"][
                    "ExitCode"]  # fmt: skip
            moto_container.last_status = "STOPPED"

    def _stop_and_finish(self, work: Work, reason: str = "", code: str = "") -> None:
        task = work.task
        self._stop_containers(work, reason)
        code = code or ("EssentialContainerExited" if reason
                        else getattr(task, "stop_code", "UserInitiated"))  # fmt: skip
        self._finish(work, reason or task.stopped_reason or "Task stopped by user", code)

    def _finish(self, work: Work, reason: str, code: str) -> None:
        """STOPPED, with why; the containers' output is shipped and the containers go."""
        task = work.task
        for shipper in work.shippers:
            shipper.wait()
        for container in work.containers.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)
        for name in work.pulled:
            # The registry's loopback port changes with every sandbox: such names would
            # pile up on the engine. The layers stay while another name or task uses them.
            with contextlib.suppress(Exception):
                self._docker().images.remove(name, noprune=True)
        for c in task.containers:
            c.last_status = "STOPPED"
        task.stopped_reason = task.stopped_reason or reason
        task.stop_code = code
        task.desired_status = "STOPPED"
        task.stopping_at = getattr(task, "stopping_at", None) or _now()
        task.stopped_at = _now()
        task.execution_stopped_at = task.stopped_at
        task.last_status = "STOPPED"
        work.done = True
        if self.credentials is not None:
            self.credentials.revoke(task.task_arn)
        if code != "UserInitiated":  # stop_task already gave the instance's resources back
            with contextlib.suppress(Exception):
                _release(rt.backend("ecs", work.region), task)

    def engine_status(self) -> str:
        """"" when the engine answers, else why tasks cannot run."""
        try:
            self._docker().ping()
            return ""
        except Exception as exc:
            self._client = None  # try afresh next time: the engine may have been started
            return NO_ENGINE.format(exc)

    def status(self) -> dict:
        running = [
            {"task": w.task.task_arn.split("/")[-1], "status": w.task.last_status,
             "instance_address": w.address, "containers": sorted(w.containers)}
            for w in self.work.values() if not w.done
        ]  # fmt: skip
        return {**super().status(), "tasks": running, "engine_problem": self.engine_status()}


def _split(name: str) -> tuple[str, str | None]:
    """repository and tag (or digest) of an image name."""
    if "@" in name:
        repository, digest = name.split("@", 1)
        return repository, digest
    head, _, last = name.rpartition("/")
    if ":" in last:
        last, tag = last.split(":", 1)
        return (f"{head}/{last}" if head else last), tag
    return name, "latest"


def _alive(pid: int) -> bool:
    from dlworkshop.processes import alive

    return pid > 0 and alive(pid)


def _release(ecs: Any, task: Any) -> None:
    """Give the task's CPU and memory back to its instance, as the agent reports on exit."""
    if not task.container_instance_arn:
        return
    ci = ecs.container_instances[task.cluster_name][task.container_instance_arn.split("/")[-1]]
    ecs.update_container_instance_resources(ci, task.resource_requirements, removing=True)


def _socket_inodes(pid: int) -> set[str]:
    """The socket inodes held by a process and its descendants (the container's tree)."""
    inodes: set[str] = set()
    pids = [pid]
    with contextlib.suppress(OSError):
        for task_dir in Path(f"/proc/{pid}/task").iterdir():
            children = (task_dir / "children").read_text().split()
            pids.extend(int(c) for c in children)
    for p in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{p}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    return inodes


def _listening_outside_loopback(pid: int) -> str:
    """"host:port" of a TCP listener of the container outside 127.0.0.0/8 (or ::1), or ""."""
    if not pid:
        return ""
    inodes = _socket_inodes(pid)
    if not inodes:
        return ""
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != "0A" or fields[9] not in inodes:
                    continue
                host_hex, port_hex = fields[1].split(":")
                raw = bytes.fromhex(host_hex)
                # /proc shows each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                address = ipaddress.ip_address(words if width == 32 else words[:4])
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                    address = address.ipv4_mapped
                if not address.is_loopback:
                    return f"{address}:{int(port_hex, 16)}"
    return ""
