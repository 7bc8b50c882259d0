"""Distributed training (the Appendix): one ECS task per container instance, MXNet's
dist_sync parameter server across them, compared with one instance.

Every task runs the `train` task definition with host networking. Its command is the
training job's plus `--kvstore dist_sync`; its DMLC_* environment says where the scheduler
is (the first instance, "the master", at its private address) and how many servers and
workers there are. Each task then runs a server and a worker, and the master the scheduler
too (classifier.distributed). Workers write their progress to
s3://<output>/train/<run id>/workers/<rank>.json; the first worker writes the model and
metrics.json; this module adds distributed.json, the comparison with one instance.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dlworkshop.aws import jobs, taskdef, tasks
from dlworkshop.aws import logs as logs_mod
from dlworkshop.context import Context
from dlworkshop.errors import UserError
from dlworkshop.events import Event, Failed, Log

PS_PORT = 9091  # the scheduler's port on the master (the instances reach each other)
SUMMARY = "distributed.json"
POLL_SECONDS = 3.0  # how often the workers' progress is read from S3
ASKED = "stopped from dlworkshop"
COMPARED = ("dataset", "network", "epochs", "batch_size", "lr")  # what a baseline must share


@dataclass(frozen=True)
class DistributedStarted(Event):
    """The run's tasks, one per instance; the first hosts the scheduler."""

    run_id: str
    nodes: list  # [{"task_id", "instance_id", "address"}], the master first
    port: int

    def render_text(self) -> str:
        where = ", ".join(f"{n['instance_id']} ({n['address']}, task {n['task_id'][:8]})"
                          for n in self.nodes)  # fmt: skip
        return (f"[bold]Distributed run {self.run_id}[/] started on {len(self.nodes)} "
                f"instances: {where}; scheduler at {self.nodes[0]['address']}:{self.port}")


@dataclass(frozen=True)
class BaselineReady(Event):
    """The single-instance run the distributed one is compared with."""

    run_id: str
    test_accuracy: float
    samples_per_s: float
    measured_now: bool
    history: list = field(default_factory=list)  # its EpochDone events, as dicts

    def render_text(self) -> str:
        when = "just measured" if self.measured_now else "measured before with these settings"
        return (f"One instance ({when}, run {self.run_id}): test accuracy "
                f"{self.test_accuracy:.4f}, {self.samples_per_s:,.0f} samples/s")


@dataclass(frozen=True)
class WorkerStatus(Event):
    """One worker's progress, as it last wrote it."""

    run_id: str
    rank: int
    host: str
    state: str  # training or finished
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    samples_per_s: float = 0.0
    history: list = field(default_factory=list)  # its EpochDone events, as dicts

    def render_text(self) -> str:
        last = self.history[-1] if self.history else {}
        accuracy = f", validation accuracy {last['val_accuracy']:.4f}" if last else ""
        where = f"epoch {self.epoch}/{self.epochs} batch {self.batch}/{self.batches}" \
            if self.state == "training" else "finished"  # fmt: skip
        return (f"  worker {self.rank} ({self.host}): {where}, {self.samples_per_s:,.0f} "
                f"samples/s{accuracy}")


@dataclass(frozen=True)
class DistributedDone(Event):
    """The run finished: how it compares with one instance."""

    run_id: str
    results: str
    workers: list  # [{"rank", "host", "samples_per_s"}]
    samples_per_s: float  # all workers together
    test_accuracy: float
    baseline_run: str
    baseline_samples_per_s: float
    baseline_accuracy: float

    @property
    def speedup(self) -> float:
        return self.samples_per_s / self.baseline_samples_per_s if \
            self.baseline_samples_per_s else 0.0  # fmt: skip

    def render_text(self) -> str:
        each = ", ".join(f"worker {w['rank']} {w['samples_per_s']:,.0f}" for w in self.workers)
        delta = self.test_accuracy - self.baseline_accuracy
        return (f"[bold green]Distributed run {self.run_id} finished[/]: test accuracy "
                f"{self.test_accuracy:.4f} (one instance: {self.baseline_accuracy:.4f}, "
                f"{delta:+.4f}); {self.samples_per_s:,.0f} samples/s together ({each}) "
                f"against {self.baseline_samples_per_s:,.0f} on one instance: "
                f"[bold]{self.speedup:.2f}x[/]; results in {self.results}")


def check(options: dict, workers: int) -> None:
    """Refuse a bad run before anything is staged or started."""
    if workers < 2:
        raise UserError(f"--distributed {workers}: give the number of instances to train on, "
                        "at least 2.")  # fmt: skip
    batch = options.get("batch_size") or 64
    if batch % workers:
        raise UserError(f"--batch-size {batch} is the total over {workers} workers: make it a "
                        "multiple of that.")  # fmt: skip
    jobs.check_options(taskdef.TRAIN, options)


def _rate(history: list[dict]) -> float:
    """Samples a second over the whole run, from its epochs (EpochDone dicts)."""
    seconds = sum(h.get("seconds", 0) for h in history)
    samples = sum(h.get("samples_per_s", 0) * h.get("seconds", 0) for h in history)
    return samples / seconds if seconds else 0.0


def _metrics(s3, bucket: str, run_id: str, name: str = "metrics.json") -> dict | None:
    """A JSON file of a training run's results, or None when it is not there (yet)."""
    from dlworkshop.aws import s3uri

    try:
        return s3uri.get_json(s3, f"s3://{bucket}/train/{run_id}/{name}")
    except Exception:
        return None


def baseline(ctx: Context, options: dict) -> dict | None:
    """The newest finished single-instance training job with the same settings."""
    b, s3 = jobs.buckets(ctx), ctx.client("s3")
    wanted = _settings(options)
    for job in jobs.listed(ctx):  # newest first
        if job.kind != taskdef.TRAIN or job.status != "FINISHED":
            continue
        found = _metrics(s3, b.output, job.run_id)
        if found and found.get("workers", 1) == 1 and \
                {k: found.get(k) for k in COMPARED} == wanted:  # fmt: skip
            return found
    return None


def _settings(options: dict) -> dict:
    """The settings a run is compared by, with the trainer's defaults filled in."""
    from dlworkshop.classifier.train import DEFAULTS

    return {k: options.get(k) if options.get(k) is not None else DEFAULTS[k] for k in COMPARED}


def run(ctx: Context, options: dict, workers: int,
        sleep: Callable[[float], None] = time.sleep, stop: Callable[[], bool] = lambda: False,
        abandon: Callable[[], bool] = lambda: False) -> Iterator[Event]:  # fmt: skip
    """Measure one instance (once), then train on `workers` instances at once; follow every
    task and worker, and compare."""
    from dlworkshop.classifier.train import new_run_id

    options = {**options, **_settings(options)}
    check(options, workers)
    cluster = tasks.cluster_of(ctx)
    found = tasks.instances(ctx, cluster)
    if len(found) < workers:
        yield Failed(f"--distributed {workers} needs {workers} container instances; the cluster "
                     f"has {len(found)}.", "Deploy Lab 1's stack with DesiredCapacity "
                     f"{workers} (and wait for the instances to join), or train on fewer.")
        return
    base = baseline(ctx, options)
    measured_now = base is None
    if base is None:
        yield Log("First, the same training on one instance, to compare with (once for these "
                  "settings):", "info")  # fmt: skip
        for event in jobs.run(ctx, taskdef.TRAIN, options, sleep=sleep, stop=stop,
                              abandon=abandon):  # fmt: skip
            yield event
            if isinstance(event, Failed) or abandon() or stop():
                return
        base = baseline(ctx, options)
        if base is None:
            yield Failed("The single-instance run left no finished result to compare with.",
                         "`dlworkshop job list` shows what it wrote.")  # fmt: skip
            return
    yield BaselineReady(base["run_id"], base["test_accuracy"],
                        round(_rate(base.get("history", [])), 1), measured_now,
                        base.get("history", []))  # fmt: skip
    yield from jobs.stage_dataset(ctx, options["dataset"])
    ready = yield from taskdef.register(ctx, taskdef.TRAIN)
    run_id = new_run_id()
    b = jobs.buckets(ctx)
    line = [*jobs.command(ctx, b, taskdef.TRAIN, run_id, options), "--kvstore", "dist_sync"]
    nodes = yield from _start(ctx, cluster, ready.arn, found[:workers], run_id, line)
    if not nodes:
        return
    yield DistributedStarted(run_id, nodes, PS_PORT)
    ok = yield from _follow(ctx, cluster, run_id, nodes, sleep, stop, abandon)
    if ok:
        yield _finished(ctx, run_id, nodes, base)


def _start(ctx: Context, cluster: str, arn: str, chosen: list[dict], run_id: str,
           line: list[str]):  # fmt: skip
    """One task per chosen instance, the master first; returns the nodes ([] if ECS would
    not place them all, after stopping those it did)."""
    ecs = ctx.client("ecs")
    master = chosen[0]["private_ip"]
    common = {"DMLC_PS_ROOT_URI": master, "DMLC_PS_ROOT_PORT": str(PS_PORT),
              "DMLC_NUM_SERVER": str(len(chosen)), "DMLC_NUM_WORKER": str(len(chosen)),
              jobs.RUN_ENV: run_id}  # fmt: skip
    nodes: list[dict] = []
    for instance in chosen:
        env = {**common, "DMLC_NODE_HOST": instance["private_ip"]}
        answer = ecs.start_task(
            cluster=cluster, taskDefinition=arn, containerInstances=[instance["arn"]],
            startedBy=tasks.STARTED_BY,
            overrides={"containerOverrides": [{
                "name": taskdef.CONTAINER, "command": line,
                "environment": [{"name": k, "value": v} for k, v in env.items()]}]},
        )  # fmt: skip
        if answer.get("failures") or not answer.get("tasks"):
            reason = "; ".join(f.get("reason", "") for f in answer.get("failures", [])) or \
                "not enough memory or CPU left on it"  # fmt: skip
            for node in nodes:
                ecs.stop_task(cluster=cluster, task=node["task_id"],
                              reason="Another node of the run could not start")  # fmt: skip
            yield Failed(f"ECS could not start the run's task on {instance['ec2_instance_id']}: "
                         f"{reason}.", "Stop Jupyter or a job there (Lab 3), then run again.")
            return []
        nodes.append({"task_id": answer["tasks"][0]["taskArn"].rsplit("/", 1)[-1],
                      "instance_id": instance["ec2_instance_id"],
                      "address": instance["private_ip"]})  # fmt: skip
    return nodes


def _statuses(ctx: Context, run_id: str) -> dict[int, dict]:
    """Each worker's progress file, by rank."""
    from dlworkshop.aws import s3uri

    b, s3 = jobs.buckets(ctx), ctx.client("s3")
    listed = s3.list_objects_v2(Bucket=b.output, Prefix=f"train/{run_id}/workers/")
    found = {}
    for obj in listed.get("Contents", []):
        try:
            body = s3uri.get_json(s3, f"s3://{b.output}/{obj['Key']}")
            found[int(body["rank"])] = body
        except Exception:  # a file being replaced is read on the next poll
            continue
    return found


def _worker_event(run_id: str, body: dict) -> WorkerStatus:
    history = body.get("history", [])
    return WorkerStatus(run_id, int(body["rank"]), body.get("host", ""),
                        body.get("state", "training"), body.get("epoch", 0),
                        body.get("epochs", 0), body.get("batch", 0),
                        body.get("batches", 0), body.get("samples_per_s", 0.0), history)


def _follow(ctx: Context, cluster: str, run_id: str, nodes: list[dict],
            sleep: Callable[[float], None], stop: Callable[[], bool],
            abandon: Callable[[], bool]):  # fmt: skip
    """Yield the tasks' states, their log lines and the workers' progress until every task
    stopped; return whether all of them finished well. One that fails stops the rest: the
    others would wait for it forever."""
    ecs = ctx.client("ecs")
    ids = [n["task_id"] for n in nodes]
    tails = [logs_mod.Tail(ctx, f"{taskdef.TRAIN}/{taskdef.CONTAINER}/{t}", since_seconds=60)
             for t in ids]  # fmt: skip
    addresses = tasks._addresses(tasks.instances(ctx, cluster))
    last: dict[str, object] = {}
    seen: dict[int, str] = {}
    stopping, polled, stopped_at = "", 0.0, 0.0
    deadline = time.monotonic() + jobs.JOB_TIMEOUT
    while True:
        if abandon():
            yield Log(f"Stopped following run {run_id}; it goes on.", "warning")
            return False
        states = [tasks._state(t, addresses) for t in
                  ecs.describe_tasks(cluster=cluster, tasks=ids)["tasks"]]  # fmt: skip
        for state in states:
            if last.get(state.task_id) != state:
                last[state.task_id] = state
                yield state
        fresh = [line for tail in tails for line in tail.poll()]
        yield from fresh
        if time.monotonic() - polled >= POLL_SECONDS:
            polled = time.monotonic()
            for rank, body in sorted(_statuses(ctx, run_id).items()):
                key = json.dumps(body, sort_keys=True)
                if seen.get(rank) != key:
                    seen[rank] = key
                    yield _worker_event(run_id, body)
        failed = [s for s in states if s.status == "STOPPED" and
                  next((c.get("exit_code") for c in s.containers), None) != 0]  # fmt: skip
        if not stopping and (failed or stop() or time.monotonic() > deadline):
            stopping = (f"task {failed[0].task_id[:8]} on {failed[0].instance_id} stopped: "
                        f"{failed[0].reason or 'see its log'}") if failed else ASKED  # fmt: skip
            for state in states:
                if state.status != "STOPPED":
                    ecs.stop_task(cluster=cluster, task=state.task_id,
                                  reason=f"Distributed run {run_id}: {stopping}")  # fmt: skip
            yield Log(f"Stopping the run's tasks ({stopping})…", "warning")
        if states and all(s.status == "STOPPED" for s in states):
            stopped_at = stopped_at or time.monotonic()
            if not fresh and time.monotonic() - stopped_at >= jobs.DRAIN_SECONDS:
                if stopping == ASKED:
                    yield Failed(f"Distributed run {run_id} was stopped, as asked.",
                                 "What it wrote is not listed as finished; run it again "
                                 "when you like.")  # fmt: skip
                    return False
                if stopping:
                    yield Failed(f"Distributed run {run_id} failed: {stopping}.",
                                 f"Read its logs (`dlworkshop job logs {run_id}`) and run "
                                 "again.")  # fmt: skip
                    return False
                return True
        sleep(0.5 if fresh else 1.0)


def _finished(ctx: Context, run_id: str, nodes: list[dict], base: dict) -> Event:
    """DistributedDone from what the workers wrote, also kept as distributed.json."""
    from dlworkshop.aws import s3uri

    b, s3 = jobs.buckets(ctx), ctx.client("s3")
    metrics = _metrics(s3, b.output, run_id)
    statuses = _statuses(ctx, run_id)
    if metrics is None or len(statuses) < len(nodes) or \
            any(s.get("state") != "finished" for s in statuses.values()):  # fmt: skip
        return Failed(f"Distributed run {run_id} ended but not every worker reported finishing.",
                      f"Read its logs: `dlworkshop job logs {run_id}`.")  # fmt: skip
    workers = [{"rank": r, "host": s.get("host", ""),
                "samples_per_s": round(_rate(s["history"]), 1)}
               for r, s in sorted(statuses.items())]  # fmt: skip
    total = sum(w["samples_per_s"] for w in workers)
    base_rate = _rate(base.get("history", []))
    done = DistributedDone(run_id, f"s3://{b.output}/train/{run_id}/", workers, round(total, 1),
                           metrics["test_accuracy"], base["run_id"], round(base_rate, 1),
                           base["test_accuracy"])  # fmt: skip
    summary = {**done.to_dict(), "speedup": round(done.speedup, 3), "nodes": nodes,
               "settings": {k: metrics.get(k) for k in COMPARED}}  # fmt: skip
    s3uri.put_json(s3, f"s3://{b.output}/train/{run_id}/{SUMMARY}", summary)
    return done


def latest(ctx: Context) -> dict | None:
    """The newest distributed run's summary, or None."""
    b, s3 = jobs.buckets(ctx), ctx.client("s3")
    runs = [j.run_id for j in jobs.listed(ctx) if j.kind == taskdef.TRAIN and j.run_id]
    for run_id in runs:  # newest first
        found = _metrics(s3, b.output, run_id, SUMMARY)
        if found is not None:
            return found
    return None


def check_ran(ctx: Context):
    """Checkpoint: a distributed run finished on two or more instances, its model in S3."""
    from dlworkshop.checkpoints import CheckResult

    summary = latest(ctx)
    if summary is None:
        return CheckResult.fail("No distributed run yet: `dlworkshop train --distributed 2` "
                                "(or Distribute in the Appendix).")  # fmt: skip
    instances = {n["instance_id"] for n in summary.get("nodes", [])}
    if len(instances) < 2:
        return CheckResult.fail(f"Run {summary['run_id']} used {len(instances)} instance(s), "
                                "not two or more.")  # fmt: skip
    b = jobs.buckets(ctx)
    if _metrics(ctx.client("s3"), b.output, summary["run_id"]) is None:
        return CheckResult.fail(f"Run {summary['run_id']}'s model is no longer in "
                                f"s3://{b.output}/train/.")  # fmt: skip
    return CheckResult.ok(f"run {summary['run_id']} on {', '.join(sorted(instances))}: test "
                          f"accuracy {summary['test_accuracy']:.4f} (one instance "
                          f"{summary['baseline_accuracy']:.4f}), {summary['speedup']:.2f}x "
                          "the samples/s of one")  # fmt: skip
