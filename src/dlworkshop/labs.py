"""The workshop's labs, their guide text and their checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from dlworkshop.checkpoints import Checkpoint, register


@dataclass(frozen=True)
class Lab:
    """One step of the workshop, as the navigator lists it."""

    id: str
    name: str
    title: str
    guide: str

    @property
    def label(self) -> str:
        """The navigator's text, e.g. "Lab 1 · Set up AWS"."""
        return f"{self.name} · {self.title}"

    def guide_text(self) -> str:
        """The lab's guide, shipped as Markdown package data."""
        return resources.files("dlworkshop.guides").joinpath(self.guide).read_text("utf-8")


LABS: tuple[Lab, ...] = (
    Lab("overview", "Overview", "Cats, MXNet and ECS", "overview.md"),
    Lab("lab1", "Lab 1", "Set up AWS", "lab1.md"),
    Lab("lab2", "Lab 2", "Build the MXNet container", "lab2.md"),
    Lab("lab3", "Lab 3", "Deploy with ECS", "lab3.md"),
    Lab("lab4", "Lab 4", "Image classification", "lab4.md"),
    Lab("cleanup", "Cleanup", "Leave nothing running", "cleanup.md"),
    Lab("appendix", "Appendix", "Extra credit", "appendix.md"),
)
BY_ID = {lab.id: lab for lab in LABS}


def lab_index(lab_id: str) -> int:
    """Position of a lab in the navigator."""
    return [lab.id for lab in LABS].index(lab_id)


# The checkpoints every lab will verify. A None check is one whose lab is not built yet:
# the screen says so instead of pretending. Later labs register their real checks.
for _cp in (
    Checkpoint(
        "overview.credentials",
        "overview",
        "AWS credentials work",
        "dlworkshop.aws.identity:check_credentials",
    ),
    Checkpoint(
        "overview.region",
        "overview",
        "The region is one your account can use",
        "dlworkshop.aws.identity:check_region",
    ),
    Checkpoint(
        "lab1.stack",
        "lab1",
        "Stack is CREATE_COMPLETE with its outputs",
        "dlworkshop.aws.stack_checks:check_stack",
    ),
    Checkpoint(
        "lab1.instances",
        "lab1",
        "The cluster has its registered container instances",
        "dlworkshop.aws.stack_checks:check_instances",
    ),
    Checkpoint("lab2.built", "lab2", "Image built", "dlworkshop.container.run:check_built"),
    Checkpoint(
        "lab2.runs", "lab2", "The container runs MXNet", "dlworkshop.container.run:check_runs_mxnet"
    ),
    Checkpoint(
        "lab2.pushed", "lab2", "Image pushed to ECR", "dlworkshop.aws.registry:check_pushed"
    ),
    Checkpoint("lab3.taskdef", "lab3", "Task definition registered"),
    Checkpoint("lab3.running", "lab3", "The task runs on the cluster"),
    Checkpoint("lab3.tunnel", "lab3", "SSH tunnel to the container instance is open"),
    Checkpoint("lab3.mesh", "lab3", "The instances can reach each other"),
    Checkpoint(
        "lab4.cat",
        "lab4",
        "The endpoint classifies the sample cat as a cat",
        "dlworkshop.classifier.checks:check_sample_cat",
    ),
    Checkpoint("cleanup.empty", "cleanup", "Nothing is left running or billing"),
    Checkpoint("appendix.gpu", "appendix", "MXNet runs on a GPU instance"),
    Checkpoint("appendix.mf", "appendix", "Matrix factorisation model trained"),
    Checkpoint("appendix.dist", "appendix", "Distributed training ran on both instances"),
):
    register(_cp)
