"""A container instance's SSH endpoint: asyncssh on the instance's loopback address.

It admits `ec2-user` with the instance's key pair only, presents a host key that stays
the instance's for as long as the sandbox's folder does, runs commands (with a terminal
when asked) on this machine as the instance, and forwards TCP connections to 127.0.0.0/8
only ("localhost" meaning the instance's own address) and the Docker socket to the
sandbox's engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import os
import pty
import struct
import termios
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

USER = "ec2-user"
DOCKER_SOCKET = "/var/run/docker.sock"


def host_key(path: Path) -> asyncssh.SSHKey:
    """The instance's host key, made once and kept (0600) so that it stays the same."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.export_private_key())
    return key


def is_loopback(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


@dataclass
class Instance:
    """What the endpoint needs to know of the instance it stands for."""

    instance_id: str
    address: str  # its loopback address, private and public alike
    public_key: str  # the key pair's public key, OpenSSH format
    home: Path  # its ec2-user's home on this machine
    docker_socket: str = ""  # the sandbox engine's socket path, if it is a local one
    env: dict = field(default_factory=dict)
    connections: set = field(default_factory=set)  # live ones: closed when it goes down


class _Server(asyncssh.SSHServer):
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.key = asyncssh.import_public_key(instance.public_key)
        self.conn: Any = None

    def connection_made(self, conn: Any) -> None:
        self.conn = conn
        self.instance.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.instance.connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate; only ec2-user can

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == USER and key.public_data == self.key.public_data

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str,
                             orig_port: int) -> Any:  # fmt: skip
        # The instance's "localhost" is its own address; nothing off loopback is reached.
        host = self.instance.address if dest_host in ("localhost", "127.0.0.1") else dest_host
        if not is_loopback(host):
            return False
        return self.conn.forward_connection(host, dest_port)

    def unix_connection_requested(self, dest_path: str) -> Any:
        if dest_path == DOCKER_SOCKET and self.instance.docker_socket:
            return self.conn.forward_unix_connection(self.instance.docker_socket)
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return False  # remote forwards would listen on this machine's other addresses


async def _run(instance: Instance, process: Any) -> None:
    """Run the session's command (or a login shell) as the instance's ec2-user."""
    env = {
        **os.environ, **instance.env,
        "HOME": str(instance.home), "USER": USER, "LOGNAME": USER,
        "HOSTNAME": f"ip-{instance.address.replace('.', '-')}",
    }  # fmt: skip
    argv = ["bash", "-c", process.command] if process.command else ["bash", "-l"]
    instance.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if process.get_terminal_type():
        env["TERM"] = process.get_terminal_type()
        status = await _run_in_terminal(process, argv, env, instance.home)
    else:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=instance.home,
            start_new_session=True,
        )  # fmt: skip
        await process.redirect(stdin=proc.stdin, stdout=proc.stdout, stderr=proc.stderr)
        status = await proc.wait()
        with contextlib.suppress(Exception):
            await process.stdout.drain()
    process.exit(status if status >= 0 else 128 - status)


async def _run_in_terminal(process: Any, argv: list[str], env: dict, cwd: Path) -> int:
    """Like ssh -t: the command on a pseudo-terminal, its size following the client's."""
    master, slave = pty.openpty()
    cols, rows, *_ = process.get_terminal_size()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows or 24, cols or 80, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
        start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )  # fmt: skip
    os.close(slave)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:
            data = b""
        if data:
            process.stdout.write(data)
        else:
            loop.remove_reader(master)
            done.set()

    loop.add_reader(master, readable)

    async def feed() -> None:
        with contextlib.suppress(asyncssh.BreakReceived, asyncssh.TerminalSizeChanged,
                                 asyncssh.DisconnectError, OSError):  # fmt: skip
            while True:
                try:
                    data = await process.stdin.read(4096)
                except asyncssh.TerminalSizeChanged as change:
                    fcntl.ioctl(master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", change.height, change.width, 0, 0))  # fmt: skip
                    continue
                if not data:
                    break
                os.write(master, data)

    feeder = asyncio.ensure_future(feed())
    status = await proc.wait()
    await asyncio.wait_for(done.wait(), 2) if not done.is_set() else None
    feeder.cancel()
    with contextlib.suppress(OSError):
        loop.remove_reader(master)
    os.close(master)
    return status


async def close(instance: Instance, acceptor: Any) -> None:
    """Stop listening and drop every connection, as an instance that stops does."""
    acceptor.close()
    for conn in list(instance.connections):
        conn.close()
    await acceptor.wait_closed()


async def serve(instance: Instance, port: int, key: asyncssh.SSHKey) -> Any:
    """Listen on the instance's address; returns the asyncssh acceptor (close() stops it)."""

    async def handler(process: Any) -> None:
        try:
            await _run(instance, process)
        except Exception as exc:  # the client sees why, the endpoint lives on
            with contextlib.suppress(Exception):
                process.stderr.write(f"sandbox: {exc}\n".encode())
                process.exit(255)

    return await asyncssh.create_server(
        lambda: _Server(instance), instance.address, port, server_host_keys=[key],
        process_factory=handler, encoding=None, allow_scp=False,
        agent_forwarding=False, x11_forwarding=False, line_editor=False,
    )  # fmt: skip
