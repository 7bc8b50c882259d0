"""Workshop companion for deploying Apache MXNet on Amazon ECS."""

__version__ = "0.1.0"
