"""SSH to a container instance with the workshop key, and forward its sockets to this machine."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from dlworkshop.errors import UserError
from dlworkshop.paths import config_dir, ensure_private_dir

CONNECT_TIMEOUT = 30.0
KEEPALIVE = 5.0  # seconds between keepalives; 3 unanswered ones drop the connection
RECONNECT_DELAYS = (0.5, 1, 2, 4, 8, 15)  # back-off between tries; the last one repeats


@dataclass(frozen=True)
class SshTarget:
    """user@host:port, from an ssh:// URL such as DOCKER_HOST=ssh://ec2-user@HOST."""

    host: str
    user: str = "ec2-user"
    port: int = 22

    @classmethod
    def parse(cls, url: str) -> SshTarget:
        parts = urlparse(url if "://" in url else f"ssh://{url}")
        if parts.scheme != "ssh" or not parts.hostname:
            raise UserError(f"{url} is not an ssh://USER@HOST address.")
        return cls(parts.hostname, parts.username or "ec2-user", parts.port or 22)

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 22 else "")


def known_hosts_file() -> Path:
    """The workshop's own known_hosts (instances come and go; ~/.ssh is the learner's)."""
    path = ensure_private_dir(config_dir()) / "known_hosts"
    if not path.exists():
        path.touch(mode=0o600)
    return path


class Tunnel:
    """One SSH connection, run on its own event loop in a background thread, so that
    blocking code (the Docker SDK, checks) can use the sockets it forwards.

    With `keep()`, a dropped connection is made again with back-off, and every local port
    it forwarded is listened on again: the same URLs keep working.
    """

    def __init__(self, target: SshTarget, key_path: str | None = None) -> None:
        import asyncssh

        self.target = target
        self.key_path = key_path
        self.trusted_new_key: str | None = None  # the fingerprint, when first seen now
        self.fingerprint = ""  # the host key's, once connected
        self._forwards: list[tuple[int, str, int]] = []  # (local port, remote host, port)
        self._closing = False
        self.local_socket = ""  # set by container.engine: the forwarded Docker socket
        self._keeper: concurrent.futures.Future | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="dlworkshop-ssh-"))  # 0700
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._conn = self._run(self._connect())
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            self.close()
            raise UserError(self._explain(exc)) from None

    def _run(self, coro, timeout: float = CONNECT_TIMEOUT):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self):
        import asyncssh

        known = known_hosts_file()
        name = self.target.known_hosts_name
        if not any(line.split(" ", 1)[0] == name for line in known.read_text().splitlines()):
            # Trust on first use, as ssh does; a changed key later is refused.
            key = await asyncssh.get_server_host_key(self.target.host, self.target.port)
            if key is None:
                raise UserError(f"{self.target} presented no host key.")
            with known.open("a") as f:
                f.write(f"{name} {key.export_public_key().decode().strip()}\n")
            self.trusted_new_key = key.get_fingerprint()
        conn = await asyncssh.connect(
            self.target.host, self.target.port, username=self.target.user,
            client_keys=[self.key_path] if self.key_path else (), known_hosts=str(known),
            agent_path=None if self.key_path else (), keepalive_interval=KEEPALIVE,
            keepalive_count_max=3, connect_timeout=CONNECT_TIMEOUT,
        )  # fmt: skip
        key = conn.get_server_host_key()
        self.fingerprint = key.get_fingerprint() if key else ""
        return conn

    def _explain(self, exc: Exception) -> str:
        import asyncssh

        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return (
                f"The host key of {self.target.host} is not the one seen before. If the "
                f"instance was replaced, remove its line from {known_hosts_file()} and retry."
            )
        if isinstance(exc, asyncssh.PermissionDenied):
            key = self.key_path or "your default SSH keys"
            return f"{self.target} refused {key}: is it the key pair the stack was made with?"
        return f"Could not reach {self.target} over SSH: {exc}"

    def forward_socket(self, remote_path: str) -> str:
        """A local UNIX socket (in a private folder) that reaches `remote_path` there."""
        local = str(self._dir / f"{Path(remote_path).name}")
        async def forward():  # asyncssh's method returns an awaitable, not a coroutine
            return await self._conn.forward_local_path(local, remote_path)

        self._run(forward())
        return local

    def forward_port(self, remote_host: str, remote_port: int, local_port: int = 0) -> int:
        """Listen on 127.0.0.1:`local_port` (0: a free one) and forward to remote_host:port as
        seen from the instance; returns the local port."""

        async def forward():
            return await self._conn.forward_local_port("127.0.0.1", local_port, remote_host,
                                                       remote_port)  # fmt: skip

        try:
            listener = self._run(forward())
        except OSError as exc:
            raise UserError(f"Could not listen on 127.0.0.1:{local_port}: {exc}") from None
        port = listener.get_port()
        self._forwards.append((port, remote_host, remote_port))
        return port

    def run(self, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
        """Run a command there: (exit status, stdout, stderr)."""

        async def call():
            result = await self._conn.run(command, timeout=timeout)
            return result.exit_status or 0, str(result.stdout or ""), str(result.stderr or "")

        return self._run(call(), timeout + 5)

    def keep(self, on_change=lambda what: None) -> None:
        """Reconnect whenever the connection drops, restoring every forward on the same
        local port; `on_change("lost: why" | "reconnected")` is called from the SSH thread."""
        self._keeper = asyncio.run_coroutine_threadsafe(self._keep(on_change), self._loop)

    async def _keep(self, on_change) -> None:
        import asyncssh

        while not self._closing:
            await self._conn.wait_closed()
            if self._closing:
                return
            on_change("lost: the connection dropped")
            attempt = 0
            while not self._closing:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                await asyncio.sleep(delay)
                attempt += 1
                try:
                    self._conn = await self._connect()
                    for port, host, remote_port in self._forwards:
                        await self._conn.forward_local_port("127.0.0.1", port, host, remote_port)
                except (OSError, asyncssh.Error, TimeoutError) as exc:
                    if isinstance(exc, asyncssh.HostKeyNotVerifiable | asyncssh.PermissionDenied):
                        on_change(f"lost: {self._explain(exc)}")
                        return  # retrying cannot help: the learner must act
                    conn = getattr(self, "_conn", None)
                    if conn is not None:
                        conn.close()
                    continue
                on_change("reconnected")
                break

    @property
    def connected(self) -> bool:
        conn = getattr(self, "_conn", None)
        return conn is not None and not conn.is_closed()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return  # closed already (cleanup closes the tunnels of the process it runs in)
        self._closed = True
        self._closing = True
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                self._run(conn.wait_closed(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)
