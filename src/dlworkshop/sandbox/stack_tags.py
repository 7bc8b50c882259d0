"""Stack tags on the stack's resources, as CloudFormation propagates them on AWS.

moto copies a stack's tags only onto EC2 resources, so the Resource Groups Tagging API
(how cleanup finds what a workshop left) would miss its buckets, log group and cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from dlworkshop.sandbox.stack_cleanup import Clients


def _bucket(c: Clients, pid: str, tags: dict[str, str]) -> None:
    c.client("s3").put_bucket_tagging(
        Bucket=pid, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})


def _log_group(c: Clients, pid: str, tags: dict[str, str]) -> None:
    c.client("logs").tag_log_group(logGroupName=pid, tags=tags)


def _cluster(c: Clients, pid: str, tags: dict[str, str]) -> None:
    ecs = c.client("ecs")
    arn = ecs.describe_clusters(clusters=[pid])["clusters"][0]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()])


def _repository(c: Clients, pid: str, tags: dict[str, str]) -> None:
    ecr = c.client("ecr")
    arn = ecr.describe_repositories(repositoryNames=[pid])["repositories"][0]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def _role(c: Clients, pid: str, tags: dict[str, str]) -> None:
    c.client("iam").tag_role(RoleName=pid, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


TAGGERS: dict[str, Callable[[Clients, str, dict[str, str]], None]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::ECS::Cluster": _cluster,
    "AWS::ECR::Repository": _repository,
    "AWS::IAM::Role": _role,
}


def propagate(clients: Clients, tags: dict[str, Any], resources: list[dict]) -> None:
    """Tag each resource of a kind moto leaves untagged with the stack's own tags."""
    # aws:-prefixed keys are AWS's to set; the tagging calls refuse them from a client.
    own = {k: str(v) for k, v in tags.items() if not k.startswith("aws:")}
    if not own:
        return
    for resource in resources:
        tagger = TAGGERS.get(resource["ResourceType"])
        if tagger and resource["PhysicalResourceId"]:
            with contextlib.suppress(Exception):  # a resource that cannot be tagged stays so
                tagger(clients, resource["PhysicalResourceId"], own)
