"""Reach the cluster's container instances over SSH: who they are, a connection to one,
and the master-to-secondary connectivity check."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from dlworkshop.aws.taskdef import PORTS, SERVE
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event
from dlworkshop.remote.tunnel import SshTarget, Tunnel

SSH_PORT_TAG = "dlworkshop:ssh-port"  # where SSH listens when not on 22 (the sandbox says)
CONNECT_TIMEOUT_S = 3


@dataclass(frozen=True)
class Instance:
    """A container instance as SSH sees it."""

    instance_id: str
    public: str
    private: str
    ssh_port: int = 22

    def target(self) -> SshTarget:
        return SshTarget(self.public, "ec2-user", self.ssh_port)


def listed(ctx: Context) -> list[Instance]:
    """The cluster's active container instances, the first being "the master"."""
    from dlworkshop.aws import tasks

    found = tasks.instances(ctx)
    if not found:
        raise UserError("The cluster has no container instances yet: finish Lab 1 first.")
    ids = [i["ec2_instance_id"] for i in found]
    reservations = ctx.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
    described = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    result = []
    for instance_id in ids:
        inst = described.get(instance_id, {})
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        public = inst.get("PublicIpAddress") or inst.get("PrivateIpAddress", "")
        result.append(Instance(instance_id, public, inst.get("PrivateIpAddress", ""),
                               int(tags.get(SSH_PORT_TAG, 22))))  # fmt: skip
    return result


def pick(ctx: Context, instance_id: str | None = None) -> Instance:
    """The named instance, or the first one."""
    found = listed(ctx)
    if instance_id is None:
        return found[0]
    for inst in found:
        if inst.instance_id == instance_id:
            return inst
    raise UserError(f"{instance_id} is not a container instance of the cluster; it has "
                    f"{', '.join(i.instance_id for i in found)}.")  # fmt: skip


def key_path(ctx: Context) -> str:
    """The workshop key's private file, which SSH to the instances needs."""
    path = ctx.state.key_path
    if not path:
        raise UserError("The workshop has no private key file for the key pair (it was imported "
                        "or made elsewhere): SSH with your own key, or deploy with a new one.")
    return path


def connect(ctx: Context, instance: Instance) -> Tunnel:
    """An SSH connection to the instance as ec2-user with the workshop key."""
    return Tunnel(instance.target(), key_path(ctx))


def ssh_command(ctx: Context, instance: Instance, argv: list[str] | None = None) -> tuple[
        list[str], str | None]:  # fmt: skip
    """OpenSSH's command line for a shell (or `argv`) on the instance, and the host key's
    fingerprint when this call trusted it for the first time.

    Our own connection pins the host key first (trust on first use, the same known_hosts as
    the tunnels); OpenSSH then checks it strictly against that file.
    """
    import shutil

    from dlworkshop.remote.tunnel import known_hosts_file

    if shutil.which("ssh") is None:
        raise UserError("There is no ssh client here: install openssh-client.")
    probe = connect(ctx, instance)
    trusted = probe.trusted_new_key
    probe.close()
    line = ["ssh", "-i", key_path(ctx), "-p", str(instance.ssh_port),
            "-o", f"UserKnownHostsFile={known_hosts_file()}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", f"ec2-user@{instance.public}", *(argv or [])]  # fmt: skip
    return line, trusted


@dataclass(frozen=True)
class Reach(Event):
    """One line of the connectivity matrix."""

    source: str  # instance id
    target: str  # instance id
    address: str
    port: int
    ok: bool
    ms: float | None = None

    def render_text(self) -> str:
        verdict = "[green]ok[/]" if self.ok else "[red]failed[/]"
        took = f" {self.ms:.1f} ms" if self.ms is not None else ""
        return f"{self.source} → {self.target} {self.address}:{self.port} {verdict}{took}"


def _probe_script(targets: list[tuple[str, int]]) -> str:
    """bash for the instance: for each address:port, ok/failed and the connect time."""
    pairs = " ".join(f"{a}:{p}" for a, p in targets)
    return (
        f"for t in {pairs}; do s=$(date +%s%N); "
        f"if timeout {CONNECT_TIMEOUT_S} bash -c \"exec 3<>/dev/tcp/${{t%:*}}/${{t#*:}}\" "
        "2>/dev/null; then r=ok; else r=failed; fi; e=$(date +%s%N); "
        "echo \"$t $r $(( (e - s) / 1000 ))\"; done"
    )


def mesh(ctx: Context, ports: tuple[int, ...] = (22, PORTS[SERVE])) -> list[Reach]:
    """From the first instance ("the master"), TCP to every other's private address."""
    found = listed(ctx)
    if len(found) < 2:
        raise UserError("The cluster has one instance: there is no secondary to reach. Deploy "
                        "the stack with InstanceCount=2.")  # fmt: skip
    master, others = found[0], found[1:]
    targets = [(o.private, port) for o in others for port in ports]
    tunnel = connect(ctx, master)
    try:
        status, out, err = tunnel.run("bash -c " + shlex.quote(_probe_script(targets)))
    finally:
        tunnel.close()
    if status != 0 and not out:
        raise UserError(f"The check could not run on {master.instance_id}: {err.strip()}")
    by_address = {o.private: o.instance_id for o in others}
    results = []
    for line in out.splitlines():
        where, verdict, micros = line.split()
        address, _, port = where.rpartition(":")
        ok = verdict == "ok"
        results.append(Reach(master.instance_id, by_address.get(address, address), address,
                             int(port), ok, int(micros) / 1000 if ok else None))  # fmt: skip
    return results


def check_mesh(ctx: Context):
    """Checkpoint: the master reaches every secondary on SSH and on the model server."""
    from dlworkshop.checkpoints import CheckResult

    results = mesh(ctx)
    failed = [r for r in results if not r.ok]
    if failed:
        named = ", ".join(f"{r.target} {r.address}:{r.port}" for r in failed)
        return CheckResult.fail(f"{results[0].source} cannot reach {named}. Is the model server "
                                "running on every instance (Lab 3: Run)?")  # fmt: skip
    slowest = max(r.ms or 0 for r in results)
    return CheckResult.ok(f"{results[0].source} reaches {len(results)} address:port pairs "
                          f"(slowest {slowest:.1f} ms)")  # fmt: skip
