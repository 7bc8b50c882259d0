"""`dlworkshop train`: train an MXNet model on Fashion-MNIST, MNIST or CIFAR-10."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.events import Event


def add_parsers(sub, parent: list) -> None:
    from dlworkshop.classifier.datasets import NAMES
    from dlworkshop.classifier.train import DEFAULTS, NETWORKS

    train = sub.add_parser("train", parents=parent,
                           help="Lab 4: train a classifier (Gluon, hybridized), then serve it")
    train.add_argument("--dataset", default=DEFAULTS["dataset"], choices=NAMES,
                       help="fashion-mnist is offline (Debian's dataset-fashion-mnist); "
                            "mnist and cifar10 are downloaded")  # fmt: skip
    train.add_argument("--network", default=DEFAULTS["network"], choices=NETWORKS)
    train.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    train.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    train.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="learning rate (SGD)")
    train.add_argument("--gpu", action="store_true", help="train on the first GPU")
    train.add_argument("--out", metavar="DIR",
                       help="also copy the exported model here (it is always kept in the "
                            "model cache, where serve and classify find it)")  # fmt: skip


def cmd_train(args: argparse.Namespace, printer) -> Iterator[Event]:
    import shutil
    from pathlib import Path

    from dlworkshop.classifier.train import Options, TrainDone, TrainProgress, train
    from dlworkshop.errors import UserError
    from dlworkshop.events import Log

    if args.out and "://" in args.out:
        raise UserError(f"--out {args.out}: only a local folder here; an ECS training job "
                        "writes to the stack's output bucket.")  # fmt: skip
    options = Options(args.dataset, args.network, args.epochs, args.batch_size, args.lr,
                      args.gpu)  # fmt: skip
    options.check()  # before anything loads: a bad option costs nothing
    for event in train(options):
        if isinstance(event, TrainProgress) and not args.json and not printer.console.is_terminal:
            continue  # a log file gets epochs, not a line every half second
        yield event
        if isinstance(event, TrainDone) and args.out:
            target = Path(args.out).expanduser() / event.model
            try:
                shutil.copytree(event.path, target)
            except OSError as exc:
                raise UserError(f"Could not copy the model to {target}: "
                                f"{exc.strerror or exc}") from None  # fmt: skip
            yield Log(f"Copied the model to {target}.")
