"""ECR: the stack's repository, login credentials, and the "image is in ECR" checkpoint."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlparse

from dlworkshop.aws import stack as stack_ops
from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context
from dlworkshop.errors import UserError


@dataclass(frozen=True)
class Login:
    """Where to push and as whom: from get_authorization_token (in the sandbox, its registry)."""

    registry: str  # host[:port] the engine talks to
    username: str
    password: str = ""

    def __repr__(self) -> str:  # never print the password
        return f"Login(registry={self.registry!r}, username={self.username!r})"


@dataclass(frozen=True)
class Repository:
    """The stack's ECR repository."""

    name: str
    uri: str  # as ECR names it: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME

    @property
    def path(self) -> str:
        """The URI less its registry host: what follows /v2/ in the registry API."""
        return self.uri.split("/", 1)[1]


def repository(ctx: Context) -> Repository:
    """The repository from the Lab 1 stack's outputs."""
    name = ctx.state.stack_name
    out = stack_ops.outputs(stack_ops.required(ctx))
    if not out.get("RepositoryName") or not out.get("RepositoryUri"):
        raise UserError(f"{name} has no repository outputs yet; is it still being created?")
    return Repository(out["RepositoryName"], out["RepositoryUri"])


def credentials(token: str) -> tuple[str, str]:
    """ECR's authorizationToken is base64 of "user:password" (the user is always AWS)."""
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def login(ctx: Context) -> Login:
    """ECR's short-lived credentials and the registry endpoint they are for."""
    data = ctx.client("ecr").get_authorization_token()["authorizationData"][0]
    username, password = credentials(data["authorizationToken"])
    return Login(urlparse(data["proxyEndpoint"]).netloc, username, password)


def push_name(repo: Repository, where: Login) -> str:
    """The name the engine pushes to: the repository URI on the login's registry."""
    return f"{where.registry}/{repo.path}"


def check_pushed(ctx: Context) -> CheckResult:
    """Checkpoint: the stack's ECR repository lists a tagged image."""
    try:
        repo = repository(ctx)
    except UserError as exc:
        return CheckResult.fail(str(exc))
    images = ctx.client("ecr").describe_images(repositoryName=repo.name)["imageDetails"]
    tagged = [i for i in images if i.get("imageTags")]
    if not tagged:
        return CheckResult.fail(f"{repo.name} has no images yet: push the image in Lab 2.")
    newest = max(tagged, key=lambda i: str(i.get("imagePushedAt", "")))
    tag = newest["imageTags"][0]
    return CheckResult.ok(f"{repo.name}:{tag} is in ECR ({newest['imageDigest'][:19]}…)")
