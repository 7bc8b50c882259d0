"""Training and prediction as one-off ECS tasks (the workshop's jobs): their inputs staged
in the input bucket, their results in the output bucket, their logs in CloudWatch.

A job is one task of the `train` or `predict` task definition, its command given per run.
`train` writes s3://<output>/train/<run id>/ (the model, metrics.json last); `predict`
reads photos under s3://<input>/uploads/ and writes s3://<output>/predict/<run id>/
predictions.json. ECS forgets stopped tasks after an hour; the results stay in S3, so the
list of jobs is both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dlworkshop.aws import logs as logs_mod
from dlworkshop.aws import stack as stack_ops
from dlworkshop.aws import taskdef, tasks
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event, Failed, Log

UPLOADS = "uploads/"  # where `dlworkshop upload` puts photos in the input bucket
DATASETS = "datasets/"  # where a training job's dataset is staged
RUN_ENV = "DLWORKSHOP_RUN_ID"
DRAIN_SECONDS = 4.0  # after a task stops, how long its last lines may take to arrive
JOB_TIMEOUT = 6 * 60 * 60


@dataclass(frozen=True)
class Buckets:
    input: str
    output: str


@dataclass(frozen=True)
class Uploaded(Event):
    """Files went up to the input bucket."""

    where: str
    files: int
    size_mb: float
    skipped: list = field(default_factory=list)

    def render_text(self) -> str:
        note = f", {len(self.skipped)} skipped (not photos)" if self.skipped else ""
        return f"[bold green]Uploaded[/] {self.files} file(s), {self.size_mb:.1f} MB, to " \
               f"{self.where}{note}"


@dataclass(frozen=True)
class JobStarted(Event):
    kind: str
    run_id: str
    task_id: str
    command: list = field(default_factory=list)

    def render_text(self) -> str:
        return (f"[bold]{self.kind.capitalize()} job {self.run_id}[/] started as task "
                f"{self.task_id[:8]}: {' '.join(self.command)}")


@dataclass(frozen=True)
class JobFinished(Event):
    """The job's task exited 0 and its results are in S3."""

    kind: str
    run_id: str
    task_id: str
    results: str  # the s3:// prefix
    summary: str
    files: list = field(default_factory=list)

    def render_text(self) -> str:
        return (f"[bold green]{self.kind.capitalize()} job {self.run_id} finished[/]: "
                f"{self.summary}; results in {self.results}")


@dataclass(frozen=True)
class Job(Event):
    """One job as `job list` shows it: from ECS while it remembers, from S3 after."""

    run_id: str
    kind: str
    status: str  # RUNNING, PENDING, …, STOPPED (ECS) or FINISHED / INCOMPLETE (from S3)
    task_id: str = ""
    summary: str = ""
    results: str = ""

    def render_text(self) -> str:
        colour = {"FINISHED": "green", "STOPPED": "red", "INCOMPLETE": "red"}.get(
            self.status, "yellow")  # fmt: skip
        task = f" task {self.task_id[:8]}" if self.task_id else ""
        return (f"{self.kind:<8} {self.run_id}  [{colour}]{self.status}[/]{task}  "
                f"{self.summary}")


@dataclass(frozen=True)
class Downloaded(Event):
    where: str
    files: int

    def render_text(self) -> str:
        return f"[bold green]Downloaded[/] {self.files} file(s) to {self.where}"


def buckets(ctx: Context) -> Buckets:
    outs = stack_ops.outputs(stack_ops.required(ctx))
    return Buckets(outs["InputBucketName"], outs["OutputBucketName"])


def _prefix(text: str) -> str:
    text = text.strip().lstrip("/")
    return text if not text or text.endswith("/") else text + "/"


# ---- inputs ----------------------------------------------------------------------------
def upload(ctx: Context, path: str, prefix: str = "") -> Iterator[Event]:
    """The photos of a folder (or one photo) to s3://<input>/uploads/<name>/ (or `prefix`)."""
    from dlworkshop.classifier.classify import IMAGE_SUFFIXES

    source = Path(path).expanduser()
    if not source.exists():
        raise UserError(f"{path} does not exist.")
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    photos = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [str(p) for p in files if p not in photos]
    if not photos:
        raise UserError(f"{path} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))}).")
    root = source if source.is_dir() else source.parent
    where = f"{UPLOADS}{source.name if source.is_dir() else ''}"
    target = _prefix(prefix) or _prefix(where)
    bucket = buckets(ctx).input
    s3 = ctx.client("s3")
    size = 0
    for i, photo in enumerate(photos, 1):
        key = target + photo.relative_to(root).as_posix()
        s3.upload_file(str(photo), bucket, key)
        size += photo.stat().st_size
        if i % 20 == 0:
            yield Log(f"{i}/{len(photos)} uploaded…")
    yield Uploaded(f"s3://{bucket}/{target}", len(photos), size / 1e6, skipped)


def stage_dataset(ctx: Context, name: str) -> Iterator[Event]:
    """The dataset's pinned files in s3://<input>/datasets/<name>/, uploaded once."""
    from dlworkshop.classifier import datasets

    folder = datasets.folder_of(name)  # the files only: no need to decode them here
    local = [(a.name, folder / a.name) for a in datasets.assets(name)]
    bucket, s3 = buckets(ctx).input, ctx.client("s3")
    prefix = f"{DATASETS}{name}/"
    there = {o["Key"]: o["Size"] for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix) for o in p.get("Contents", [])}  # fmt: skip
    for file_name, path in local:
        key = prefix + file_name
        if there.get(key) == path.stat().st_size:
            continue
        yield Log(f"Staging {file_name} ({path.stat().st_size / 1e6:.1f} MB) in s3://{bucket}/"
                  f"{prefix}…")  # fmt: skip
        s3.upload_file(str(path), bucket, key)
    yield Log(f"The dataset is in s3://{bucket}/{prefix}.")


# ---- run -------------------------------------------------------------------------------
def _trained_model(ctx: Context, out: str, model: str) -> str:
    """A run id of a training job becomes its S3 prefix; any other model name stays."""
    s3 = ctx.client("s3")
    found = s3.list_objects_v2(Bucket=out, Prefix=f"train/{model}/metrics.json").get("KeyCount")
    return f"s3://{out}/train/{model}/" if found else model


def command(ctx: Context, b: Buckets, kind: str, run_id: str, options: dict) -> list[str]:
    """The job's command line in the container."""
    if kind == taskdef.TRAIN:
        dataset = options.get("dataset") or "fashion-mnist"
        line = ["dlworkshop", "train", "--dataset", dataset,
                "--data", f"s3://{b.input}/{DATASETS}{dataset}/",
                "--out", f"s3://{b.output}/train/{run_id}/", "--run-id", run_id]  # fmt: skip
        for key in ("network", "epochs", "batch_size", "lr"):
            if options.get(key) is not None:
                line += [f"--{key.replace('_', '-')}", str(options[key])]
        if options.get("gpu"):
            line.append("--gpu")
        return line
    model = _trained_model(ctx, b.output, options.get("model") or "mobilenetv2-imagenet")
    source = f"s3://{b.input}/{_prefix(options.get('input') or UPLOADS)}"
    return ["dlworkshop", "predict", "--input", source, "--model", model,
            "--out", f"s3://{b.output}/predict/{run_id}/predictions.json",
            "--run-id", run_id]  # fmt: skip


def check_options(kind: str, options: dict) -> None:
    """Refuse a bad job before anything is staged or started."""
    if kind not in taskdef.JOBS:
        raise UserError(f"{kind!r} is not a job; use {' or '.join(taskdef.JOBS)}.")
    if kind == taskdef.TRAIN:
        from dataclasses import fields

        from dlworkshop.classifier.train import Options

        known = {f.name for f in fields(Options)}
        Options(**{k: v for k, v in options.items() if k in known and v is not None}).check()


def run(ctx: Context, kind: str, options: dict | None = None,
        sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False,
        timeout: float = JOB_TIMEOUT,
        abandon: Callable[[], bool] = lambda: False) -> Iterator[Event]:  # fmt: skip
    """Stage the inputs, start the job's task, follow its state and log lines until it stops,
    then say where its results are. `stop()` stops the task (and the job is then Failed);
    `abandon()` stops following it and leaves it running (the app is closing)."""
    from dlworkshop.classifier.train import new_run_id

    options = dict(options or {})
    check_options(kind, options)
    b = buckets(ctx)
    if kind == taskdef.TRAIN:
        yield from stage_dataset(ctx, options.get("dataset") or "fashion-mnist")
    else:
        source = _prefix(options.get("input") or UPLOADS)
        if not ctx.client("s3").list_objects_v2(Bucket=b.input, Prefix=source).get("KeyCount"):
            yield Failed(f"s3://{b.input}/{source} holds no photos.",
                         "Upload a folder first: `dlworkshop upload PATH`.")  # fmt: skip
            return
    ready = yield from taskdef.register(ctx, kind)
    run_id = new_run_id()
    line = command(ctx, b, kind, run_id, options)
    cluster = tasks.cluster_of(ctx)
    answer = ctx.client("ecs").run_task(
        cluster=cluster, taskDefinition=ready.arn, count=1, startedBy=tasks.STARTED_BY,
        overrides={"containerOverrides": [{"name": taskdef.CONTAINER, "command": line,
                                           "environment": [{"name": RUN_ENV, "value": run_id}]}]},
    )  # fmt: skip
    if answer.get("failures") or not answer.get("tasks"):
        reason = "; ".join(f.get("reason", "") for f in answer.get("failures", [])) or \
            "no container instance has the memory left for it"  # fmt: skip
        yield Failed(f"ECS could not place the {kind} job: {reason}.",
                     "Stop Jupyter or another job (Lab 3), or wait for Lab 1's instances.")
        return
    task_id = answer["tasks"][0]["taskArn"].rsplit("/", 1)[-1]
    yield JobStarted(kind, run_id, task_id, line)
    final = yield from _follow(ctx, kind, task_id, cluster, sleep, stop, timeout, abandon)
    if final is None:
        return
    code = next((c.get("exit_code") for c in final.containers), None)
    if final.status != "STOPPED" or code != 0:
        yield Failed(f"The {kind} job {run_id} stopped"
                     + (f" with exit code {code}" if code is not None else "")
                     + f": {final.reason or 'see its log above'}.",
                     f"Read its log (`dlworkshop job logs {run_id}`), fix it, and run again.")
        return
    yield _finished(ctx, kind, run_id, task_id)


def _follow(ctx: Context, kind: str, task_id: str, cluster: str,
            sleep: Callable[[float], None], stop: Callable[[], bool],
            timeout: float, abandon: Callable[[], bool]):  # fmt: skip
    """Yield the task's states and log lines until it stops; return its last state (None
    when it was abandoned or forgotten)."""
    ecs = ctx.client("ecs")
    tail = logs_mod.Tail(ctx, f"{kind}/{taskdef.CONTAINER}/{task_id}", since_seconds=60)
    addresses = tasks._addresses(tasks.instances(ctx, cluster))
    last, stopped_at, asked_stop = None, 0.0, False
    deadline = time.monotonic() + timeout
    while True:
        if abandon():
            yield Log(f"Stopped following task {task_id[:8]}; the job goes on.", "warning")
            return None
        described = ecs.describe_tasks(cluster=cluster, tasks=[task_id])["tasks"]
        if not described:
            yield Failed(f"ECS no longer knows task {task_id[:8]}.",
                         "`dlworkshop job list` shows what reached S3.")  # fmt: skip
            return None
        state = tasks._state(described[0], addresses)
        if state != last:
            last = state
            yield state
        fresh = tail.poll()
        yield from fresh
        if state.status == "STOPPED":
            stopped_at = stopped_at or time.monotonic()
            if not fresh and time.monotonic() - stopped_at >= DRAIN_SECONDS:
                return state
        elif not asked_stop and (stop() or time.monotonic() > deadline):
            asked_stop = True
            ecs.stop_task(cluster=cluster, task=task_id, reason="Stopped from dlworkshop")
            yield Log(f"Stopping task {task_id[:8]}…")
        sleep(0.5 if fresh else 1.0)


def _finished(ctx: Context, kind: str, run_id: str, task_id: str) -> Event:
    """JobFinished with a summary read from the result, or Failed if it is not there."""
    b, s3 = buckets(ctx), ctx.client("s3")
    prefix = f"{kind}/{run_id}/"
    files = [o["Key"] for o in s3.list_objects_v2(Bucket=b.output, Prefix=prefix).get(
        "Contents", [])]  # fmt: skip
    summary = _summary(s3, b.output, kind, run_id)
    if summary is None:
        return Failed(f"The {kind} job {run_id} exited 0 but s3://{b.output}/{prefix} holds no "
                      "finished result.", f"Read its log: `dlworkshop job logs {run_id}`.")
    return JobFinished(kind, run_id, task_id, f"s3://{b.output}/{prefix}", summary, files)


def _summary(s3, output: str, kind: str, run_id: str) -> str | None:
    """A finished result in words, or None when it is not (or not yet) complete."""
    import json

    key = f"{kind}/{run_id}/" + ("metrics.json" if kind == taskdef.TRAIN else "predictions.json")
    try:
        body = json.loads(s3.get_object(Bucket=output, Key=key)["Body"].read())
    except Exception:
        return None
    if kind == taskdef.TRAIN:
        workers = body.get("workers", 1)
        return (f"{body.get('network')} on {body.get('dataset')}, {body.get('epochs')} "
                f"epoch(s){f', {workers} workers' if workers > 1 else ''}, test accuracy "
                f"{body.get('test_accuracy', 0):.4f}")
    found = body.get("predictions", [])
    cats = sum(1 for p in found if p.get("is_cat"))
    return f"{len(found)} photo(s), {cats} cat(s), {len(body.get('skipped', []))} skipped"


# ---- list, logs, results ---------------------------------------------------------------
def _tasks(ctx: Context, cluster: str) -> list[tuple[str, tasks.TaskState, dict]]:
    """(run id, state, raw) of every job task ECS still knows."""
    ecs = ctx.client("ecs")
    families = {taskdef.family(ctx.state.stack_name, k) for k in taskdef.JOBS}
    found = []
    addresses = tasks._addresses(tasks.instances(ctx, cluster))
    for status in ("RUNNING", "STOPPED"):
        arns = ecs.list_tasks(cluster=cluster, startedBy=tasks.STARTED_BY,
                              desiredStatus=status).get("taskArns", [])  # fmt: skip
        for raw in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []:
            state = tasks._state(raw, addresses)
            if state.family not in families:
                continue
            env = [e for o in (raw.get("overrides") or {}).get("containerOverrides", [])
                   for e in o.get("environment", [])]  # fmt: skip
            run_id = next((e["value"] for e in env if e["name"] == RUN_ENV), "")
            found.append((run_id, state, raw))
    return found


def listed(ctx: Context) -> list[Job]:
    """Every job: those ECS still knows, and every result in the output bucket."""
    b, s3 = buckets(ctx), ctx.client("s3")
    jobs: dict[str, Job] = {}
    for kind in taskdef.JOBS:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=b.output, Prefix=f"{kind}/",
                                                             Delimiter="/")  # fmt: skip
        for page in pages:
            for common in page.get("CommonPrefixes", []):
                run_id = common["Prefix"][len(kind) + 1:].rstrip("/")
                summary = _summary(s3, b.output, kind, run_id)
                jobs[run_id] = Job(run_id, kind, "FINISHED" if summary else "INCOMPLETE", "",
                                   summary or "no finished result", f"s3://{b.output}/"
                                   f"{common['Prefix']}")  # fmt: skip
    for run_id, state, _raw in _tasks(ctx, tasks.cluster_of(ctx)):
        kind = state.family.rsplit("-", 1)[-1]
        had = jobs.get(run_id)
        if had is not None and had.status == "FINISHED":
            jobs[run_id] = Job(run_id, kind, "FINISHED", state.task_id, had.summary, had.results)
            continue
        code = next((c.get("exit_code") for c in state.containers), None)
        note = state.reason + (f" (exit {code})" if code is not None else "")
        jobs[run_id or state.task_id] = Job(run_id, kind, state.status, state.task_id,
                                            note if state.status == "STOPPED" else "running")
    return sorted(jobs.values(), key=lambda j: j.run_id, reverse=True)


def find(ctx: Context, ident: str) -> Job:
    """A job by run id or task id (or a unique start of either)."""
    every = listed(ctx)
    exact = [j for j in every if ident in (j.run_id, j.task_id)]
    matches = exact or [j for j in every if j.run_id.startswith(ident)
                        or (j.task_id and j.task_id.startswith(ident))]  # fmt: skip
    if not matches:
        raise UserError(f"No job {ident!r}: `dlworkshop job list` shows them.")
    if len(matches) > 1:
        raise UserError(f"{ident!r} matches {len(matches)} jobs: give more of its id.")
    return matches[0]


def job_logs(ctx: Context, ident: str, keep_following: bool = False,
             sleep: Callable[[float], None] = time.sleep) -> Iterator[Event]:  # fmt: skip
    """The job's log lines (its task's CloudWatch stream)."""
    job = find(ctx, ident)
    if not job.task_id:
        yield Log(f"ECS no longer remembers the task of {job.run_id}; its logs are in the "
                  f"stack's log group under {job.kind}/{taskdef.CONTAINER}/.")  # fmt: skip
        return
    yield from logs_mod.follow(ctx, f"{job.kind}/{taskdef.CONTAINER}/{job.task_id}",
                               since_seconds=7 * 86400, keep_following=keep_following,
                               sleep=sleep)  # fmt: skip


def download(ctx: Context, ident: str, to: str) -> Iterator[Event]:
    """A job's results from the output bucket into `to`/<run id>/."""
    from dlworkshop.aws import s3uri

    job = find(ctx, ident)
    if not job.results:
        raise UserError(f"{job.run_id or job.task_id} has no results in S3 yet.")
    folder = Path(to).expanduser() / job.run_id
    got = s3uri.download_prefix(ctx.client("s3"), job.results, folder)
    yield Downloaded(str(folder), len(got))
