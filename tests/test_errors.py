"""SDK errors become messages that say what to do."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from dlworkshop.errors import explain


def client_error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetCallerIdentity")


def test_missing_and_expired_credentials() -> None:
    assert "aws configure" in explain(NoCredentialsError())
    assert "--sandbox" in explain(NoCredentialsError())
    assert "expired" in explain(client_error("ExpiredToken"))
    assert "expired" in explain(client_error("RequestExpired"))
    assert "rejected" in explain(client_error("InvalidClientTokenId"))
    assert "not allowed" in explain(client_error("AccessDenied", "no s3:ListBucket"))
    assert "list-profiles" in explain(ProfileNotFound(profile="nope"))


def test_unreachable_endpoint_and_other_errors() -> None:
    msg = explain(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert "sandbox start" in msg
    assert explain(client_error("Throttling", "slow down")) == "AWS said Throttling: slow down"
    assert explain(ValueError("bad")) == "ValueError: bad"
