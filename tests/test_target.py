"""Mode resolution: --sandbox, --profile, or credentials decide; regions are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlworkshop import target
from dlworkshop.errors import UserError


def test_sandbox_flag_and_defaults() -> None:
    t = target.resolve(sandbox=True)
    assert (t.mode, t.region, t.is_sandbox) == ("sandbox", "us-east-1", True)
    assert target.resolve(sandbox=True, region="eu-west-1").region == "eu-west-1"
    assert target.resolve(sandbox=True, saved_region="ap-south-1").region == "ap-south-1"


def test_no_credentials_falls_back_to_the_sandbox() -> None:
    t = target.resolve()
    assert t.mode == "sandbox"
    assert "no AWS credentials" in t.why


def test_credentials_from_environment_mean_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    t = target.resolve()
    assert t.mode == "aws"
    assert t.label == "AWS · profile default"


def test_profile_region_is_used(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = home / "aws-config"
    config.write_text("[profile teacher]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    t = target.resolve(profile="teacher")
    assert (t.mode, t.profile, t.region) == ("aws", "teacher", "eu-central-1")


def test_bad_input_gets_clear_messages() -> None:
    with pytest.raises(UserError, match="not an AWS region name"):
        target.resolve(sandbox=True, region="Frankfurt")
    with pytest.raises(UserError, match="cannot be used together"):
        target.resolve(sandbox=True, profile="p")
