"""Which AWS the app talks to: the offline sandbox, or real AWS through a profile."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from dlworkshop.errors import UserError

SANDBOX, AWS = "sandbox", "aws"
DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"^[a-z]{2,5}(-[a-z]+)+-\d+$")


@dataclass(frozen=True)
class Target:
    """Mode, profile, region and (in the sandbox) the AWS endpoint every client uses."""

    mode: str
    region: str = DEFAULT_REGION
    profile: str | None = None
    endpoint: str | None = None
    why: str = ""

    @property
    def is_sandbox(self) -> bool:
        return self.mode == SANDBOX

    @property
    def label(self) -> str:
        """How the header names the mode."""
        if self.is_sandbox:
            return "sandbox (offline)"
        return f"AWS · profile {self.profile or 'default'}"

    def with_endpoint(self, endpoint: str | None) -> Target:
        return replace(self, endpoint=endpoint)


def check_region(region: str) -> str:
    """Reject strings that cannot be a region name, with a clear message."""
    if not _REGION.match(region):
        raise UserError(
            f"{region!r} is not an AWS region name; a region looks like us-east-1 or eu-west-2."
        )
    return region


def credentials_resolve(profile: str | None) -> bool:
    """Whether the standard credential chain finds any credentials (no network call)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile).get_credentials() is not None
    except ProfileNotFound:
        return False


def profile_region(profile: str | None) -> str | None:
    """The region configured for a profile, if any."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.Session(profile_name=profile).region_name
    except ProfileNotFound:
        return None


def resolve(
    sandbox: bool = False,
    profile: str | None = None,
    region: str | None = None,
    saved_region: str | None = None,
) -> Target:
    """Pick the mode: --sandbox, or real AWS if credentials resolve, otherwise the sandbox."""
    if sandbox and profile:
        raise UserError("--sandbox and --profile cannot be used together.")
    if sandbox:
        mode, why = SANDBOX, "--sandbox was given"
    elif profile:
        mode, why = AWS, f"--profile {profile} was given"
    elif credentials_resolve(None):
        mode, why = AWS, "AWS credentials were found"
    else:
        mode, why = SANDBOX, "no AWS credentials were found, so the offline sandbox is used"
    chosen = region or saved_region or (None if mode == SANDBOX else profile_region(profile))
    return Target(mode, check_region(chosen or DEFAULT_REGION), profile, None, why)
