"""Remove what moto leaves of a deleted (or rolled-back) stack, and check it is gone.

moto's delete_stack fails on the VPC with DependencyViolation and drops the stack record,
leaving the VPC, subnets, route table, internet gateway, security group and ECS cluster.
The CloudFormation agent records the stack's resources first, lets moto delete what it
can, then calls `remove` for the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Clients:
    """boto3 clients of one region of the sandbox's own API."""

    factory: Callable[[str, str], Any]
    region: str

    def client(self, service: str) -> Any:
        return self.factory(service, self.region)


def _deregister_all(ctx: Clients, cluster: str) -> None:
    ecs = ctx.client("ecs")
    for arn in ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", []):
        ecs.deregister_container_instance(cluster=cluster, containerInstance=arn, force=True)


def _exists(ctx: Clients, kind: str, pid: str) -> bool:
    """Whether the physical resource still exists (for the kinds moto leaves behind)."""
    ec2 = ctx.client("ec2")
    from botocore.exceptions import ClientError

    try:
        if kind == "AWS::EC2::VPC":
            return bool(ec2.describe_vpcs(VpcIds=[pid])["Vpcs"])
        if kind == "AWS::EC2::Subnet":
            return bool(ec2.describe_subnets(SubnetIds=[pid])["Subnets"])
        if kind == "AWS::EC2::RouteTable":
            return bool(ec2.describe_route_tables(RouteTableIds=[pid])["RouteTables"])
        if kind == "AWS::EC2::InternetGateway":
            return bool(
                ec2.describe_internet_gateways(InternetGatewayIds=[pid])["InternetGateways"]
            )
        if kind == "AWS::EC2::SecurityGroup":
            return bool(ec2.describe_security_groups(GroupIds=[pid])["SecurityGroups"])
        if kind == "AWS::ECS::Cluster":
            found = ctx.client("ecs").describe_clusters(clusters=[pid])["clusters"]
            return any(c["status"] == "ACTIVE" for c in found)
        if kind == "AWS::AutoScaling::AutoScalingGroup":
            return bool(ctx.client("autoscaling").describe_auto_scaling_groups(
                AutoScalingGroupNames=[pid])["AutoScalingGroups"])  # fmt: skip
        if kind == "AWS::S3::Bucket":
            ctx.client("s3").head_bucket(Bucket=pid)
            return True
        if kind == "AWS::ECR::Repository":
            return bool(ctx.client("ecr").describe_repositories(repositoryNames=[pid])[
                "repositories"])  # fmt: skip
        if kind == "AWS::IAM::Role":
            ctx.client("iam").get_role(RoleName=pid)
            return True
        if kind == "AWS::Logs::LogGroup":
            groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=pid)["logGroups"]
            return any(g["logGroupName"] == pid for g in groups)
    except ClientError:
        return False
    return False  # kinds that go with their parents (routes, associations, ingress rules)


def _remover(ctx: Clients, kind: str) -> Callable[[str], Any] | None:
    ec2 = ctx.client("ec2")

    def igw(pid: str) -> None:
        for gw in ec2.describe_internet_gateways(InternetGatewayIds=[pid])["InternetGateways"]:
            for att in gw.get("Attachments", []):
                ec2.detach_internet_gateway(InternetGatewayId=pid, VpcId=att["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=pid)

    def route_table(pid: str) -> None:
        for table in ec2.describe_route_tables(RouteTableIds=[pid])["RouteTables"]:
            for assoc in table.get("Associations", []):
                if not assoc.get("Main"):
                    ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=pid)

    def cluster(pid: str) -> None:
        _deregister_all(ctx, pid)
        ctx.client("ecs").delete_cluster(cluster=pid)

    def role(pid: str) -> None:
        iam = ctx.client("iam")
        for name in iam.list_role_policies(RoleName=pid)["PolicyNames"]:
            iam.delete_role_policy(RoleName=pid, PolicyName=name)
        for pol in iam.list_attached_role_policies(RoleName=pid)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=pid, PolicyArn=pol["PolicyArn"])
        for prof in iam.list_instance_profiles_for_role(RoleName=pid)["InstanceProfiles"]:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=prof["InstanceProfileName"], RoleName=pid)  # fmt: skip
            iam.delete_instance_profile(InstanceProfileName=prof["InstanceProfileName"])
        iam.delete_role(RoleName=pid)

    return {
        "AWS::AutoScaling::AutoScalingGroup": lambda pid: ctx.client("autoscaling")
        .delete_auto_scaling_group(AutoScalingGroupName=pid, ForceDelete=True),
        "AWS::ECS::Cluster": cluster,
        "AWS::S3::Bucket": lambda pid: ctx.client("s3").delete_bucket(Bucket=pid),
        "AWS::ECR::Repository": lambda pid: ctx.client("ecr").delete_repository(
            repositoryName=pid, force=True),
        "AWS::IAM::Role": role,
        "AWS::Logs::LogGroup": lambda pid: ctx.client("logs").delete_log_group(logGroupName=pid),
        "AWS::EC2::SecurityGroup": lambda pid: ec2.delete_security_group(GroupId=pid),
        "AWS::EC2::Subnet": lambda pid: ec2.delete_subnet(SubnetId=pid),
        "AWS::EC2::RouteTable": route_table,
        "AWS::EC2::InternetGateway": igw,
        "AWS::EC2::VPC": lambda pid: ec2.delete_vpc(VpcId=pid),
    }.get(kind)  # fmt: skip


# Dependents before what they depend on.
ORDER = [
    "AWS::AutoScaling::AutoScalingGroup", "AWS::ECS::Cluster", "AWS::S3::Bucket",
    "AWS::ECR::Repository", "AWS::IAM::Role", "AWS::Logs::LogGroup",
    "AWS::EC2::SecurityGroup", "AWS::EC2::Subnet", "AWS::EC2::RouteTable",
    "AWS::EC2::InternetGateway", "AWS::EC2::VPC",
]  # fmt: skip


def discover(ctx: Clients, stack: str) -> list[dict]:
    """The stack's EC2 network resources, found by the tags CloudFormation puts on them.

    For a stack whose create failed in moto, list_stack_resources itself fails (moto
    re-runs the failing resource), so the tags are the only record of what was made.
    """
    ec2 = ctx.client("ec2")
    tag = [{"Name": "tag:aws:cloudformation:stack-name", "Values": [stack]}]

    def logical(item: dict) -> str:
        tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        return tags.get("aws:cloudformation:logical-id", "?")

    found = []
    for kind, call, key, pid in (
        ("AWS::EC2::VPC", ec2.describe_vpcs, "Vpcs", "VpcId"),
        ("AWS::EC2::Subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
        ("AWS::EC2::RouteTable", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        ("AWS::EC2::InternetGateway", ec2.describe_internet_gateways, "InternetGateways",
         "InternetGatewayId"),
        ("AWS::EC2::SecurityGroup", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
    ):  # fmt: skip
        for item in call(Filters=tag)[key]:
            found.append({"ResourceType": kind, "PhysicalResourceId": item[pid],
                          "LogicalResourceId": logical(item)})  # fmt: skip
    return found


def with_tagged(ctx: Clients, stack: str, recorded: list[dict]) -> list[dict]:
    """The recorded resources plus the network resources found only by their tags."""
    known = {r.get("PhysicalResourceId") for r in recorded}
    return recorded + [r for r in discover(ctx, stack) if r["PhysicalResourceId"] not in known]


def release_cluster(ctx: Clients, recorded: list[dict]) -> None:
    """Deregister the container instances of the stack's cluster (the sandbox registered
    them; a cluster with instances cannot be deleted)."""
    for r in recorded:
        if r["ResourceType"] == "AWS::ECS::Cluster" and r.get("PhysicalResourceId"):
            with contextlib.suppress(Exception):
                _deregister_all(ctx, r["PhysicalResourceId"])


def remove(ctx: Clients, recorded: list[dict]) -> list[str]:
    """Delete whatever of `recorded` still exists, dependents first; returns the logical
    IDs of what is still there afterwards."""
    for kind in ORDER:
        for r in recorded:
            pid = r.get("PhysicalResourceId", "")
            if r["ResourceType"] != kind or not pid or not _exists(ctx, kind, pid):
                continue
            remove_one = _remover(ctx, kind)
            assert remove_one is not None
            with contextlib.suppress(Exception):
                remove_one(pid)
    return [
        r["LogicalResourceId"]
        for r in recorded
        if _exists(ctx, r["ResourceType"], r.get("PhysicalResourceId", ""))
    ]
