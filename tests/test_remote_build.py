"""Building on a container instance's engine over SSH (DOCKER_HOST=ssh://ec2-user@HOST),
against an in-process asyncssh server that forwards /var/run/docker.sock to the real engine."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ENGINE, MODELS, needs_engine, needs_models
from helpers import json_lines, run_cli

from dlworkshop import state as state_store

pytestmark = pytest.mark.slow  # real servers, engines or terminals

TAG = "dlworkshop/mxnet:over-ssh"


class _Instance:
    """An SSH server standing in for a container instance: key auth only, and direct
    streamlocal forwarding of /var/run/docker.sock (to the sandbox's engine)."""

    def __init__(self, engine_socket: str) -> None:
        self.engine_socket = engine_socket
        self.forwarded: list[str] = []

    def __call__(self):
        import asyncssh

        instance = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn) -> None:
                self.conn = conn

            def unix_connection_requested(self, dest_path: str):
                instance.forwarded.append(dest_path)
                if dest_path != "/var/run/docker.sock":
                    return False
                return self.conn.forward_unix_connection(instance.engine_socket)

        return Server()


@pytest.fixture
def instance(home: Path) -> Iterator[dict]:
    import asyncssh

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    workshop_key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = home / "keys" / "workshop.pem"
    key_path.parent.mkdir(mode=0o700)
    workshop_key.write_private_key(str(key_path))
    key_path.chmod(0o600)
    state_store.update(lambda s: setattr(s, "key_path", str(key_path)))
    factory = _Instance(os.environ["DOCKER_HOST"].removeprefix("unix://"))

    async def start():
        return await asyncssh.create_server(
            factory, "127.0.0.1", 0,
            server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
            authorized_client_keys=asyncssh.import_authorized_keys(
                workshop_key.export_public_key().decode()),
        )  # fmt: skip

    server = run(start())
    port = server.sockets[0].getsockname()[1]
    yield {"url": f"ssh://ec2-user@127.0.0.1:{port}", "port": port, "factory": factory}
    server.close()
    run(server.wait_closed())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def http_mirror() -> Iterator[str]:
    """The models mirror over HTTP: a remote engine cannot read this machine's folders."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(MODELS))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@needs_engine
@needs_models
def test_build_over_ssh_with_the_workshop_key(instance: dict, http_mirror: str) -> None:
    env = {"DOCKER_HOST": instance["url"], "DLWORKSHOP_MODEL_MIRROR": http_mirror}
    out = run_cli("--json", "image", "build", "--tag", TAG, timeout=1200, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    events = json_lines(out.stdout)
    assert events[-1]["type"] == "build_done" and events[-1]["tag"] == TAG
    assert instance["url"] in events[0]["message"]
    assert instance["factory"].forwarded and set(instance["factory"].forwarded) == {
        "/var/run/docker.sock"
    }
    assert ENGINE.images.get(TAG)  # it is in the instance's engine
    # Its host key was pinned on first use, in the workshop's own known_hosts.
    from dlworkshop.remote.tunnel import known_hosts_file

    assert f"[127.0.0.1]:{instance['port']} ssh-ed25519 " in known_hosts_file().read_text()

    # The shell goes through the same tunnel (the docker CLI's own ssh knows no workshop key).
    out = run_cli("image", "shell", "--tag", TAG, "--", "python", "-c", "print('over ssh')",
                  env=env)  # fmt: skip
    assert out.returncode == 0 and "over ssh" in out.stdout, out.stderr


@needs_engine
def test_a_wrong_key_or_a_changed_host_key_is_refused_clearly(instance: dict) -> None:
    import asyncssh

    from dlworkshop.remote.tunnel import known_hosts_file

    env = {"DOCKER_HOST": instance["url"]}
    other = Path(state_store.load().state.key_path).with_name("other.pem")
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    other.chmod(0o600)
    good = state_store.load().state.key_path
    state_store.update(lambda s: setattr(s, "key_path", str(other)))
    out = run_cli("--json", "image", "build", env=env)
    assert out.returncode == 1
    assert "refused" in out.stdout and "other.pem" in out.stdout
    assert "is it the key pair the stack was made with?" in out.stdout

    state_store.update(lambda s: setattr(s, "key_path", good))
    name = f"[127.0.0.1]:{instance['port']}"
    forged = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    known_hosts_file().write_text(f"{name} {forged}\n")
    out = run_cli("--json", "image", "build", env=env)
    assert out.returncode == 1
    assert "is not the one seen before" in out.stdout and "known_hosts" in out.stdout
