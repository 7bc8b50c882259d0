"""ECR: the stack's repository, login credentials, and the "image is in ECR" checkpoint."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urlparse

from dlworkshop.aws import stack as stack_ops
from dlworkshop.checkpoints import CheckResult
from dlworkshop.context import Context
from dlworkshop.errors import UserError

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


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
    description = stack_ops.describe(ctx, name)
    if description is None:
        raise UserError(f"There is no stack called {name}: deploy it in Lab 1 first.")
    out = stack_ops.outputs(description)
    if not out.get("RepositoryName") or not out.get("RepositoryUri"):
        raise UserError(f"{name} has no repository outputs yet; is it still being created?")
    return Repository(out["RepositoryName"], out["RepositoryUri"])


def login(ctx: Context) -> Login:
    """ECR's short-lived credentials; the sandbox's registry accepts the same ones."""
    from dlworkshop.sandbox.registry import MISSING, credentials

    data = ctx.client("ecr").get_authorization_token()["authorizationData"][0]
    username, password = credentials(data["authorizationToken"])
    host = urlparse(data["proxyEndpoint"]).netloc
    if ctx.target.is_sandbox:
        record = ctx.state.sandbox or {}
        host = record.get("registry") or ""
        if not host:
            raise UserError(record.get("registry_note") or MISSING)
    return Login(host, username, password)


def push_name(repo: Repository, where: Login) -> str:
    """The name the engine pushes to: the repository URI on the login's registry."""
    return f"{where.registry}/{repo.path}"


def record_sandbox_push(ctx: Context, repo: Repository, where: Login, tag: str) -> str:
    """Tell moto's ECR about an image pushed to the sandbox's registry, as ECR itself would
    know it; returns the digest."""
    import httpx

    response = httpx.get(
        f"http://{where.registry}/v2/{repo.path}/manifests/{tag}",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
        auth=(where.username, where.password),
        timeout=30,
    )
    response.raise_for_status()
    digest = response.headers["Docker-Content-Digest"]
    media_type = response.headers["Content-Type"].split(";")[0]
    ecr = ctx.client("ecr")
    # The same image pushed again: ECR has it already.
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
        ecr.put_image(
            repositoryName=repo.name, imageManifest=response.text, imageTag=tag,
            imageManifestMediaType=media_type, imageDigest=digest,
        )  # fmt: skip
    return digest


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
