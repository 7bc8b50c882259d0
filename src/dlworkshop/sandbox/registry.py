"""The sandbox's ECR: a Docker registry on loopback that takes moto's ECR credentials."""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BINARY = "docker-registry"
MISSING = (
    "The sandbox has no registry to push to: install Debian's docker-registry "
    "(apt-get install docker-registry) and restart the sandbox."
)


@dataclass
class Registry:
    """A running registry process of ours and the host:port it listens on."""

    proc: subprocess.Popen
    address: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ecr_credentials(endpoint: str) -> tuple[str, str]:
    """What moto's get_authorization_token hands out, so the registry accepts exactly that."""
    import boto3

    from dlworkshop.aws.registry import credentials

    ecr = boto3.client(
        "ecr", region_name="us-east-1", endpoint_url=endpoint,
        aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
    )  # fmt: skip
    data = ecr.get_authorization_token()["authorizationData"][0]
    return credentials(data["authorizationToken"])


def _config(root: Path, address: str, user: str, password: str) -> Path:
    import bcrypt

    htpasswd = root / "htpasswd"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"{user}:{hashed}\n")
    htpasswd.chmod(0o600)
    config = root / "config.yml"
    # Our own config: the packaged one listens on every interface.
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {address}\n  secret: {secrets.token_hex(16)}\n"
        f"auth:\n  htpasswd:\n    realm: dlworkshop-sandbox\n    path: {htpasswd}\n"
    )
    config.chmod(0o600)
    return config


def _death_signal():
    """A pre-exec hook so that the registry dies with the sandbox process even if that is
    killed outright (Linux's PR_SET_PDEATHSIG), or None elsewhere.

    Everything is looked up here, in the parent: the hook runs in the forked child of a
    threaded process, where importing or loading a library could deadlock.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _answers(address: str) -> bool:
    """The registry's API answers (401 without credentials is an answer)."""
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except (urllib.error.URLError, OSError):
        return False


def start(root: Path, user: str, password: str, port: int, timeout: float = 20.0) -> Registry:
    """Start docker-registry on 127.0.0.1:port with an htpasswd holding user:password."""
    binary = shutil.which(BINARY)
    if binary is None:
        raise FileNotFoundError(MISSING)
    # moto's ECR starts empty every time, so the registry behind it does too.
    shutil.rmtree(root / "data", ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    address = f"127.0.0.1:{port}"
    config = _config(root, address, user, password)
    log = open(root / "registry.log", "ab")  # noqa: SIM115 - the child keeps it open
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        preexec_fn=_death_signal(),
    )  # fmt: skip
    log.close()
    registry = Registry(proc, address)
    deadline = time.monotonic() + timeout
    # A port probe alone could answer from a stranger's registry: our process must be alive.
    while proc.poll() is None and time.monotonic() < deadline:
        if _answers(address):
            return registry
        time.sleep(0.1)
    registry.stop()
    tail = (root / "registry.log").read_text(errors="replace")[-500:]
    raise RuntimeError(f"docker-registry did not start on {address}: {tail.strip()}")
