"""EC2 key pairs: list, create (private key saved 0600, never shown) or import."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from dlworkshop.atomic import write_atomic
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event
from dlworkshop.locks import held
from dlworkshop.paths import config_dir, ensure_private_dir


@dataclass(frozen=True)
class KeyPairReady(Event):
    """The key pair to use; `path` is where its private key is, when we have it."""

    name: str
    path: str | None
    created: bool

    def render_text(self) -> str:
        where = f", private key in {self.path} (0600)" if self.path else ""
        verb = "created" if self.created else "using"
        return f"[bold]Key pair[/] {verb} {self.name}{where}"


def keys_dir() -> Path:
    return ensure_private_dir(config_dir() / "keys")


def key_path(ctx: Context, name: str) -> Path:
    """Where a key pair's private key is kept: one file per region and name."""
    return keys_dir() / f"{ctx.target.region}-{name}.pem"


def list_names(ctx: Context) -> list[str]:
    """Key pairs in the region."""
    return sorted(k["KeyName"] for k in ctx.client("ec2").describe_key_pairs()["KeyPairs"])


def ensure(ctx: Context, name: str) -> KeyPairReady:
    """Use the key pair if it exists, else create it and keep its private key (0600)."""
    path = key_path(ctx, name)
    # One command at a time looks for, creates and writes a key: two deploys started
    # together share one key pair instead of racing to write the same file.
    with held(keys_dir() / ".lock"):
        if name in list_names(ctx):
            return KeyPairReady(name, str(path) if path.exists() else None, False)
        reply = ctx.client("ec2").create_key_pair(
            KeyName=name, KeyType="ed25519", KeyFormat="pem"
        )
        if path.exists():  # a key of an earlier pair with this name: keep it, never overwrite
            path.rename(path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}"))
        # The private key exists only in this reply: write it before anything else can fail.
        write_atomic(path, reply["KeyMaterial"].encode(), mode=0o600, replace=False)
    return KeyPairReady(name, str(path), True)


def import_public(ctx: Context, name: str, public_key: Path) -> KeyPairReady:
    """Import an existing public key (the private key stays where it is)."""
    try:
        material = public_key.read_bytes()
    except OSError as exc:
        raise UserError(f"Cannot read the public key {public_key}: {exc}") from None
    ctx.client("ec2").import_key_pair(KeyName=name, PublicKeyMaterial=material)
    private = public_key.with_suffix("") if public_key.suffix == ".pub" else None
    return KeyPairReady(name, str(private) if private and private.exists() else None, True)


def choose(ctx: Context, name: str, public_key: Path | None = None) -> KeyPairReady:
    """Import `public_key` as `name`, or use (or create) `name`; the state remembers it."""
    from dlworkshop import state as state_store

    key = import_public(ctx, name, public_key) if public_key else ensure(ctx, name)

    def remember(s: state_store.State) -> None:
        # The same pair found again keeps its origin: created once, still ours to delete.
        ours = key.created or (s.key_name == key.name and s.key_created)
        s.key_name, s.key_path, s.key_created = key.name, key.path or s.key_path, ours

    remember(ctx.state)
    state_store.update(remember)
    return key
