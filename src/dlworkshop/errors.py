"""Turn SDK exceptions into messages that say what to do."""

from __future__ import annotations

EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
REJECTED = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidAccessKeyId",
}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class UserError(Exception):
    """An error whose message is already written for the learner."""


def _names(exc: BaseException) -> set[str]:
    # Matching on class names keeps botocore out of imports until an AWS call really happens.
    return {cls.__name__ for cls in type(exc).__mro__}


def explain(exc: BaseException) -> str:
    """A one-paragraph explanation of `exc` with the next step to take."""
    names = _names(exc)
    if "UserError" in names:
        return str(exc)
    if "NoCredentialsError" in names:
        return (
            "No AWS credentials were found. Run `aws configure` (or `aws sso login`), "
            "pass --profile NAME, or use --sandbox to work offline."
        )
    if "ProfileNotFound" in names:
        return f"{exc}. Check `aws configure list-profiles`, or use --sandbox to work offline."
    if names & {"TokenRetrievalError", "SSOTokenLoadError", "UnauthorizedSSOTokenError"}:
        return f"Your AWS SSO session has expired or is missing: run `aws sso login`. ({exc})"
    if "ClientError" in names:
        error = getattr(exc, "response", {}).get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        if code in EXPIRED:
            return (
                "Your AWS credentials have expired. Refresh them (for example "
                "`aws sso login`, or a new session token) and try again."
            )
        if code in REJECTED:
            return (
                f"AWS rejected your credentials ({code}). Check the access key in your "
                "profile, or pass --profile NAME."
            )
        if code in DENIED:
            return f"Your AWS identity is not allowed to do this ({code}): {message}"
        return f"AWS said {code}: {message}" if code else str(exc)
    if names & {"EndpointConnectionError", "ConnectionError", "ConnectTimeoutError"}:
        return (
            f"Could not reach the AWS endpoint ({exc}). In the sandbox, start it with "
            "`dlworkshop sandbox start`; on real AWS, check your network and region."
        )
    if "InvalidRegionError" in names:
        return f"{exc}. A region looks like us-east-1 or eu-west-2."
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
