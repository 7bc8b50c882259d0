"""The Lab 1 resource tree: resources grouped by kind, counted, failures under their row."""

from __future__ import annotations

from conftest import wait_until
from textual.app import App, ComposeResult

from dlworkshop.tui.widgets.resources import ResourceGroup, ResourceTree, group_of


class TreeApp(App):
    def compose(self) -> ComposeResult:
        yield ResourceTree()


def test_resource_types_fall_into_the_groups_a_learner_expects() -> None:
    assert group_of("AWS::EC2::VPCGatewayAttachment") == "Network"
    assert group_of("AWS::EC2::SecurityGroupIngress") == "Network"
    assert group_of("AWS::EC2::LaunchTemplate") == "Compute"
    assert group_of("AWS::ECS::Cluster") == "Compute"
    assert group_of("AWS::S3::BucketPolicy") == "Storage"
    assert group_of("AWS::SNS::Topic") == "Other"


async def test_groups_come_in_order_count_what_is_done_and_show_failures() -> None:
    app = TreeApp()
    async with app.run_test() as pilot:
        tree = app.query_one(ResourceTree)
        tree.update_resource("", "Cluster", "AWS::ECS::Cluster", "CREATE_IN_PROGRESS", "")
        tree.update_resource("", "Vpc", "AWS::EC2::VPC", "CREATE_COMPLETE", "")
        tree.update_resource("", "Bucket", "AWS::S3::Bucket", "CREATE_FAILED", "name taken")
        tree.update_resource("", "Subnets", "AWS::CloudFormation::Stack", "CREATE_COMPLETE", "")
        tree.update_resource("Subnets", "SubnetA", "AWS::EC2::Subnet", "CREATE_COMPLETE", "")
        await pilot.pause()
        groups = list(tree.query(ResourceGroup))
        assert [g.group for g in groups] == ["Stack", "Network", "Storage", "Compute",
                                             "Nested stack Subnets"]  # fmt: skip
        # Each title counts its rows after they are mounted (a refresh later): under load
        # one pause was not always enough (CI).
        await wait_until(pilot, lambda: all("/" in str(g.border_title) for g in groups))
        titles = {g.group: str(g.border_title) for g in groups}
        assert "1/1" in titles["Network"] and "0/1" in titles["Compute"]
        assert "0/1, 1 failed" in titles["Storage"]
        bucket = next(r for r in tree.rows() if r.logical_id == "Bucket")
        assert bucket.reason == "name taken"
