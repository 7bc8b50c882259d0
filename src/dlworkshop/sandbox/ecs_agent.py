"""The sandbox plays the ECS agent: it registers the Auto Scaling group's instances.

On AWS the agent on each container instance registers it with the cluster named in its
user data. moto runs no agent, so the sandbox registers them, with each instance's real
identity document fields, so that list_container_instances answers as on AWS.
"""

from __future__ import annotations

import json

from dlworkshop.context import Context

# What an m5.large reports: 2 vCPUs (1024 units each) and its memory less the agent's share.
CPU_UNITS_PER_VCPU = 1024


def register_instances(ctx: Context, cluster: str, asg_name: str) -> list[str]:
    """Register each running instance of the group not yet in the cluster; returns their IDs."""
    if not asg_name:
        return []
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg_name]
    )["AutoScalingGroups"]
    ids = [i["InstanceId"] for g in groups for i in g["Instances"]]
    if not ids:
        return []
    ecs, ec2 = ctx.client("ecs"), ctx.client("ec2")
    arns = ecs.list_container_instances(cluster=cluster).get("containerInstanceArns", [])
    registered = set()
    if arns:
        described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
        registered = {c["ec2InstanceId"] for c in described["containerInstances"]}
    account = ctx.client("sts").get_caller_identity()["Account"]
    done = []
    for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for inst in reservation["Instances"]:
            if inst["InstanceId"] in registered or inst["State"]["Name"] != "running":
                continue
            document = {
                "instanceId": inst["InstanceId"],
                "instanceType": inst["InstanceType"],
                "imageId": inst["ImageId"],
                "region": ctx.target.region,
                "availabilityZone": inst["Placement"]["AvailabilityZone"],
                "privateIp": inst.get("PrivateIpAddress", ""),
                "accountId": account,
                "architecture": "x86_64",
            }
            ecs.register_container_instance(
                cluster=cluster,
                instanceIdentityDocument=json.dumps(document),
                instanceIdentityDocumentSignature="dlworkshop-sandbox",
                totalResources=[
                    {"name": "CPU", "type": "INTEGER", "integerValue": 2 * CPU_UNITS_PER_VCPU},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 7680},
                ],
                versionInfo={"agentVersion": "dlworkshop-sandbox", "dockerVersion": "sandbox"},
            )
            done.append(inst["InstanceId"])
    return done
