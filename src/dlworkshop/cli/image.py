"""`dlworkshop image build`: Lab 2 from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.events import Event


def add_parsers(sub, parent: list) -> None:
    image = sub.add_parser("image", help="Lab 2: the MXNet container image")
    actions = image.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", parents=parent, help="build the image, streamed")
    build.add_argument("--tag", default=None, help="image tag (default dlworkshop/mxnet:latest)")
    build.add_argument(
        "--base-image",
        help="base image (default: the sandbox's local "
        "Debian 12 image if present, else python:3.11-slim-bookworm)",
    )
    build.add_argument("--no-cache", action="store_true", help="rebuild every layer")


def cmd_image(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.container import build, engine

    client = engine.client()
    yield from build.build(client, args.tag or build.DEFAULT_TAG, args.base_image, args.no_cache)
