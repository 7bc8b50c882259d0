"""What a check or an operation needs: the target, the state and the AWS clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlworkshop.aws.session import SessionFactory
from dlworkshop.state import State
from dlworkshop.target import Target


@dataclass
class Context:
    """Shared by checks and operations; safe to use from worker threads."""

    target: Target
    state: State = field(default_factory=State)
    aws: SessionFactory = field(init=False)

    def __post_init__(self) -> None:
        self.aws = SessionFactory(self.target)

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for this thread."""
        return self.aws.client(service, region)
