"""The workshop template: lint-clean, secure by default, and its parameters checked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dlworkshop.cfn import template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "src/dlworkshop/cfn/workshop.yaml"
TOOLS = ROOT / ".venv-tools/bin"


@pytest.mark.skipif(not (TOOLS / "cfn-lint").exists(), reason="run ./workshop setup first")
def test_cfn_lint_is_clean() -> None:
    out = subprocess.run([str(TOOLS / "cfn-lint"), str(TEMPLATE)], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not (TOOLS / "checkov").exists(), reason="run ./workshop setup first")
def test_checkov_has_no_failures() -> None:
    out = subprocess.run(
        [str(TOOLS / "checkov"), "-f", str(TEMPLATE), "--compact", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    import json

    report = json.loads(out.stdout)
    summary = report["summary"]
    assert summary["failed"] == 0, out.stdout[-3000:]
    assert summary["passed"] >= 40
    # Every skipped check carries a justification in the template's metadata.
    for skipped in report["results"]["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment"), skipped["check_id"]


def test_secure_defaults_are_in_the_template() -> None:
    t = template.parsed()
    res = t["Resources"]
    ingress = res["InstanceSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert [r["FromPort"] for r in ingress] == [22]  # only SSH unless asked for
    assert all(r["CidrIp"] == "SourceCidr" for r in ingress)  # never 0.0.0.0/0 by default
    assert "Default" not in t["Parameters"]["SourceCidr"]
    # 8080 and 8888 open only on request, and then only to SourceCidr.
    assert t["Parameters"]["OpenServicePorts"]["Default"] == "false"
    for name, port in (("ModelServerIngress", 8080), ("JupyterIngress", 8888)):
        assert res[name]["Condition"] == "ServicePorts"
        assert res[name]["Properties"]["FromPort"] == port
        assert res[name]["Properties"]["CidrIp"] == "SourceCidr"
    lt = res["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert lt["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2
    # One hop: containers behind Docker's bridge cannot reach the instance role.
    assert lt["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    for bucket in ("InputBucket", "OutputBucket"):
        props = res[bucket]["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values())
        assert props["BucketEncryption"]
        policy = res[f"{bucket}Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
        assert policy["Effect"] == "Deny" and "aws:SecureTransport" in str(policy["Condition"])
    assert res["LogGroup"]["Properties"]["RetentionInDays"] == 7
    assert res["Repository"]["Properties"]["ImageScanningConfiguration"]["ScanOnPush"]
    assert set(template.output_keys()) >= {
        "Region", "ClusterName", "RepositoryName", "RepositoryUri", "InputBucketName",
        "OutputBucketName", "LogGroupName", "AutoScalingGroupName", "TaskRoleArn",
        "TaskExecutionRoleArn", "SecurityGroupId",
    }  # fmt: skip


def test_parameters_are_checked_like_cloudformation_does() -> None:
    good = {"KeyName": "k", "SourceCidr": "203.0.113.7/32"}
    assert template.validate(good) == []
    errors = template.validate({**good, "InstanceType": "x9.mega", "InstanceCount": "9",
                                "SourceCidr": "everyone", "Colour": "blue"})  # fmt: skip
    text = " ".join(errors)
    assert "'InstanceType' must be one of AllowedValues" in text
    assert "'InstanceCount' must be at most 4" in text
    assert "'SourceCidr' must match pattern" in text
    assert "'Colour' is not in the template" in text
    assert template.validate({"SourceCidr": "1.2.3.4/32"}) == [
        "Parameter 'KeyName' must have a value."
    ]
    assert template.validate({**good, "InstanceCount": "two"})[0].endswith("'two' is not.")
    assert len(template.body().encode()) < template.MAX_BODY


@pytest.mark.parametrize(
    ("cidr", "ok"),
    [
        ("203.0.113.7/32", True),
        ("10.0.0.0/8", True),
        ("0.0.0.0/0", True),  # valid; the deploy flow asks before using it
        ("255.255.255.255/32", True),
        ("999.999.999.999/32", False),
        ("256.1.1.1/32", False),
        ("1.2.3.4/33", False),
        ("1.2.3.4", False),
        ("01.2.3.4/32", False),
        ("1.2.3/24", False),
    ],
)
def test_source_cidr_must_be_a_real_cidr(cidr: str, ok: bool) -> None:
    from dlworkshop.aws.network import cidr_problem

    refused = template.validate({"KeyName": "k", "SourceCidr": cidr})
    assert (not refused) == ok, refused
    assert (cidr_problem(cidr) is None) == ok
