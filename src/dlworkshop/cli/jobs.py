"""`dlworkshop upload|predict|job`: training and prediction as ECS jobs, results in S3."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from dlworkshop.cli.context import with_sandbox
from dlworkshop.events import Event, Log


def add_parsers(sub, parent: list) -> None:
    from dlworkshop.classifier.datasets import NAMES
    from dlworkshop.classifier.train import NETWORKS

    upload = sub.add_parser("upload", parents=parent,
                            help="Lab 4: upload a folder of photos to the input bucket")
    upload.add_argument("path", help="a folder (its photos) or one photo")
    upload.add_argument("--prefix", default="",
                        help="where in the input bucket (default uploads/<folder name>/)")
    predict = sub.add_parser("predict", parents=parent,
                             help="classify every photo of a folder or S3 prefix into one "
                                  "predictions.json (what a predict job runs)")  # fmt: skip
    predict.add_argument("--input", required=True, metavar="DIR|s3://…")
    predict.add_argument("--out", required=True, metavar="FILE|s3://…/predictions.json")
    predict.add_argument("--model", default="mobilenetv2-imagenet",
                         help="a model name, a trained model's folder or its s3:// prefix")
    predict.add_argument("--run-id", default="", help=argparse.SUPPRESS)

    job = sub.add_parser("job", help="Lab 4: training and prediction as ECS tasks")
    actions = job.add_subparsers(dest="action", metavar="ACTION")
    run = actions.add_parser("run", parents=parent,
                             help="run a train or predict job, following its log")  # fmt: skip
    run.add_argument("kind", choices=("train", "predict"))
    run.add_argument("--dataset", choices=NAMES, help="train: default fashion-mnist")
    run.add_argument("--network", choices=NETWORKS, help="train: default cnn")
    run.add_argument("--epochs", type=int, help="train: default 5")
    run.add_argument("--batch-size", type=int, help="train: default 64")
    run.add_argument("--lr", type=float, help="train: learning rate")
    run.add_argument("--model", help="predict: a model name or a training job's run id "
                                     "(default mobilenetv2-imagenet)")  # fmt: skip
    run.add_argument("--input", help="predict: the prefix in the input bucket (default uploads/)")
    actions.add_parser("list", parents=parent, help="the jobs, running and finished")
    logs = actions.add_parser("logs", parents=parent, help="a job's log lines")
    logs.add_argument("id", help="a run id or task id (or the start of one)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    get = actions.add_parser("get", parents=parent, help="download a job's results")
    get.add_argument("id", help="a run id or task id (or the start of one)")
    get.add_argument("--to", default=".", help="into this folder (default: here)")


def cmd_upload(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import jobs

    yield from with_sandbox(args, printer)
    yield from jobs.upload(args._ctx, args.path, args.prefix)


def cmd_predict(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.classifier import predictions

    yield from predictions.run(args.input, args.out, args.model, args.run_id)


def cmd_job(args: argparse.Namespace, printer) -> Iterator[Event]:
    from dlworkshop.aws import jobs

    if not args.action:
        yield Log("Say what to do: `dlworkshop job run train|predict`, `job list`, "
                  "`job logs ID` or `job get ID`.", "warning")  # fmt: skip
        args.action = "list"
    if args.action == "run":
        options = {k: getattr(args, k) for k in ("dataset", "network", "epochs", "batch_size",
                                                 "lr", "model", "input")}  # fmt: skip
        jobs.check_options(args.kind, options)  # before the sandbox starts
    yield from with_sandbox(args, printer)
    ctx = args._ctx
    if args.action == "run":
        try:
            yield from jobs.run(ctx, args.kind, options)
        except KeyboardInterrupt:
            yield Log("Stopped following; the job goes on (`dlworkshop job list`).", "warning")
    elif args.action == "list":
        found = jobs.listed(ctx)
        if not found:
            yield Log("No jobs yet: `dlworkshop job run train --epochs 1` starts one.")
        yield from found
    elif args.action == "logs":
        try:
            yield from jobs.job_logs(ctx, args.id, keep_following=args.follow)
        except KeyboardInterrupt:
            return
    else:
        yield from jobs.download(ctx, args.id, args.to)
