"""`dlworkshop train`: train an MXNet model on Fashion-MNIST, MNIST or CIFAR-10."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.events import Event


def add_parsers(sub, parent: list) -> None:
    from dlworkshop.classifier.datasets import NAMES
    from dlworkshop.classifier.recommend import DATASETS
    from dlworkshop.classifier.train import DEFAULTS, NETWORKS

    train = sub.add_parser("train", parents=parent,
                           help="Lab 4: train a classifier (Gluon, hybridized), then serve it; "
                                "Appendix: --task recommend")  # fmt: skip
    train.add_argument("--task", choices=("classify", "recommend"), default="classify",
                       help="recommend: matrix factorisation of ratings (the Appendix)")
    train.add_argument("--dataset", choices=NAMES + DATASETS,
                       help="classify: fashion-mnist (the default; offline, Debian's "
                            "dataset-fashion-mnist), mnist or cifar10 (downloaded); recommend: "
                            "synthetic (the default; offline, with a known noise floor) or "
                            "movielens (MovieLens 100k, downloaded)")  # fmt: skip
    train.add_argument("--network", default=DEFAULTS["network"], choices=NETWORKS)
    train.add_argument("--epochs", type=int,
                       help=f"default {DEFAULTS['epochs']} (classify) or 25 (recommend)")
    train.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    train.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="learning rate (SGD)")
    train.add_argument("--gpu", action="store_true", help="train on the first GPU")
    train.add_argument("--processes", type=int, default=0, metavar="N",
                       help="processes on this machine sharing every batch, each with one "
                            "core (default: one per core for lenet and cnn, else 1)")  # fmt: skip
    train.add_argument("--data", metavar="DIR|s3://…",
                       help="where the dataset's files are (checked against their pinned "
                            "sha256); an ECS training job reads them from the input bucket")
    train.add_argument("--out", metavar="DIR|s3://…",
                       help="also copy the exported model here: a folder, or an S3 prefix "
                            "(metrics.json is written last); it is always kept in the model "
                            "cache, where serve and classify find it")  # fmt: skip
    train.add_argument("--run-id", default="", help=argparse.SUPPRESS)  # an ECS job names it
    train.add_argument("--distributed", type=int, metavar="N",
                       help="train on N container instances at once as ECS tasks (MXNet's "
                            "dist_sync parameter server; --batch-size is the total), after "
                            "one single-instance run to compare with")  # fmt: skip
    # One node of such a run, inside its task (the DMLC_* environment says where the rest is).
    train.add_argument("--kvstore", default="", choices=("", "dist_sync"), help=argparse.SUPPRESS)
    train.add_argument("--user", type=int, default=0,
                       help="recommend: the user to recommend for (numbered from 0)")


def _staged_data(source: str, folder) -> Iterator[Event]:
    """Copy the dataset's files from an S3 prefix into `folder` (a job's input)."""
    from dlworkshop.aws import s3uri
    from dlworkshop.errors import UserError
    from dlworkshop.events import Log

    s3 = s3uri.client()
    s3uri.check_bucket(s3, s3uri.split(source)[0])
    got = s3uri.download_prefix(s3, source, folder)
    if not got:
        raise UserError(f"{source} holds no files: upload the dataset there first.")
    yield Log(f"Copied {len(got)} file(s) of the dataset from {source}.")


def cmd_train(args: argparse.Namespace, printer) -> Iterator[Event]:
    import tempfile
    from pathlib import Path

    from dlworkshop.aws import s3uri
    from dlworkshop.classifier.datasets import NAMES
    from dlworkshop.classifier.train import DEFAULTS, Options, train
    from dlworkshop.errors import UserError

    if args.task == "recommend":
        yield from _recommend(args)
        return
    dataset = args.dataset or DEFAULTS["dataset"]
    if dataset not in NAMES:
        raise UserError(f"--dataset {dataset} is a rating set: use it with --task recommend.")
    to_s3 = bool(args.out) and s3uri.is_s3(args.out)
    epochs = DEFAULTS["epochs"] if args.epochs is None else args.epochs
    options = Options(dataset, args.network, epochs, args.batch_size, args.lr,
                      args.gpu, run_id=args.run_id, kvstore=args.kvstore,
                      processes=args.processes)  # fmt: skip
    options.check()  # before anything loads: a bad option costs nothing
    if args.distributed is not None:
        yield from _distributed(args, options, printer)
        return
    if options.kvstore:
        from dlworkshop.classifier import distributed

        if not distributed.is_worker():  # the node: its scheduler, server and worker
            import sys

            yield from distributed.run_node([sys.executable, "-m", "dlworkshop", *sys.argv[1:]])
            return
    if to_s3:  # a bucket that is not there is said before the training, not after it
        s3uri.check_bucket(s3uri.client(), s3uri.split(args.out)[0])
    with tempfile.TemporaryDirectory(prefix="dlworkshop-data-") as staging:
        data = args.data or ""
        if data and s3uri.is_s3(data):
            yield from _staged_data(data, Path(staging))
            data = staging
        from dataclasses import replace

        events = train(replace(options, data=data))
        if options.kvstore:  # one worker of a distributed run
            events = _reported(events, args.out) if args.out else events
        yield from _relayed(events, args, printer, to_s3)


def _relayed(events: Iterator[Event], args: argparse.Namespace, printer,
             to_s3: bool) -> Iterator[Event]:  # fmt: skip
    """The trainer's events, the model copied out when it is done."""
    from dlworkshop.classifier.train import TrainDone, TrainProgress
    from dlworkshop.events import Log

    for event in events:
        if isinstance(event, TrainProgress) and not args.json and \
                not printer.console.is_terminal:  # fmt: skip
            continue  # a log file gets epochs, not a line every half second
        yield event
        if isinstance(event, TrainDone) and args.out and event.path:
            where = _copy_out(event, args.out, to_s3)
            yield Log(f"Copied the model to {where}.")


def _recommend(args: argparse.Namespace) -> Iterator[Event]:
    """Matrix factorisation on a rating set (the Appendix)."""
    from dlworkshop.classifier import recommend
    from dlworkshop.errors import UserError

    dataset = args.dataset or "synthetic"
    if dataset not in recommend.DATASETS:
        raise UserError(f"--dataset {dataset} is an image set: --task recommend takes "
                        f"{' or '.join(recommend.DATASETS)}.")  # fmt: skip
    yield from recommend.train(dataset, 25 if args.epochs is None else args.epochs,
                               user=args.user)  # fmt: skip


def _copy_out(done, out: str, to_s3: bool) -> str:
    """The exported folder to a local folder or an S3 prefix; returns where it went."""
    import shutil
    from pathlib import Path

    from dlworkshop.aws import s3uri
    from dlworkshop.errors import UserError

    if to_s3:
        target = out if out.endswith("/") else out + "/"
        try:
            s3uri.upload_folder(s3uri.client(), Path(done.path), target, last="metrics.json")
        except Exception as exc:
            raise UserError(f"Could not copy the model to {target}: {exc}") from None
        return target
    local = Path(out).expanduser() / done.model
    try:
        shutil.copytree(done.path, local)
    except OSError as exc:
        raise UserError(f"Could not copy the model to {local}: {exc.strerror or exc}") from None
    return str(local)


def _reported(events: Iterator[Event], out: str) -> Iterator[Event]:
    """A worker's events, its progress also written to <out>/workers/<rank>.json (at most
    every few seconds, and at each epoch's end) for whoever follows the whole run."""
    import time

    from dlworkshop.classifier import distributed
    from dlworkshop.classifier.train import EpochDone, TrainDone, TrainProgress, TrainStarted

    status: dict = {"host": distributed.node_host(), "state": "training", "history": []}
    written = 0.0
    for event in events:
        due = True
        if isinstance(event, TrainStarted):
            status.update(rank=event.rank, workers=event.workers, samples=event.train_samples,
                          epochs=event.epochs)  # fmt: skip
        elif isinstance(event, TrainProgress):
            status.update(epoch=event.epoch, batch=event.batch, batches=event.batches,
                          samples_per_s=event.samples_per_s, loss=event.loss)  # fmt: skip
            due = time.monotonic() - written >= distributed.REPORT_SECONDS
        elif isinstance(event, EpochDone):
            status["history"].append(event.to_dict())
            status.update(epoch=event.epoch, samples_per_s=event.samples_per_s)
        elif isinstance(event, TrainDone):
            status.update(state="finished", test_accuracy=event.test_accuracy,
                          seconds=event.seconds)  # fmt: skip
        if due and "rank" in status:
            distributed.write_status(out, status)
            written = time.monotonic()
        yield event


def _distributed(args: argparse.Namespace, options, printer) -> Iterator[Event]:
    """`--distributed N`: the run as ECS tasks, one per container instance."""
    from dataclasses import asdict

    from dlworkshop.aws import distributed
    from dlworkshop.cli.context import with_sandbox
    from dlworkshop.events import Log

    wanted = {k: v for k, v in asdict(options).items()
              if k in ("dataset", "network", "epochs", "batch_size", "lr", "gpu")}  # fmt: skip
    distributed.check(wanted, args.distributed)  # before the sandbox starts
    yield from with_sandbox(args, printer)
    try:
        yield from distributed.run(args._ctx, wanted, args.distributed)
    except KeyboardInterrupt:
        yield Log("Stopped following; the run goes on (`dlworkshop job list`).", "warning")
