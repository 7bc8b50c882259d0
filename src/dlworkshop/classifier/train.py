"""Train an MXNet Gluon classifier, yielding typed events, and export it for serving.

Speed: the whole training step (network and loss) is one hybridized graph with static
memory, the data sit in memory as one float32 array sliced per batch, and nothing waits
for the engine within an epoch except the throttled progress reports; the optimizer
updates every parameter in one aggregated call. LeNet and the CNN also share each batch
between replica processes, one per core (replicas.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlworkshop.errors import UserError
from dlworkshop.events import Event

NETWORKS = ("cnn", "lenet", "mlp", "resnet20")
DEFAULTS: dict[str, Any] = {"dataset": "fashion-mnist", "network": "cnn", "epochs": 5,
                            "batch_size": 64, "lr": 0.05}  # fmt: skip
REPORT_EVERY = 0.5  # seconds between progress events (each one waits for the engine)
IN_FLIGHT = 4  # batches queued in MXNet's engine ahead of the one finishing


@dataclass(frozen=True)
class Options:
    """What to train, and how."""

    dataset: str = DEFAULTS["dataset"]
    network: str = DEFAULTS["network"]
    epochs: int = DEFAULTS["epochs"]
    batch_size: int = DEFAULTS["batch_size"]
    lr: float = DEFAULTS["lr"]
    gpu: bool = False
    seed: int = 42
    data: str = ""  # a folder holding the dataset's files (a task's copy from S3), or ""
    run_id: str = ""  # given by whoever names the run's results (an ECS job), else made here
    # "dist_sync": one worker of a distributed run (MXNet's parameter server, its scheduler
    # named by the DMLC_* environment); batch_size is then the total over every worker.
    kvstore: str = ""
    # Processes on this machine sharing every batch (replicas.py); 0: default_processes.
    processes: int = 0

    def check(self) -> None:
        from dlworkshop.classifier.datasets import NAMES

        if self.dataset not in NAMES:
            raise UserError(f"There is no dataset called {self.dataset!r}: pick one of "
                            f"{', '.join(NAMES)}.")  # fmt: skip
        if self.network not in NETWORKS:
            raise UserError(f"There is no network called {self.network!r}: pick one of "
                            f"{', '.join(NETWORKS)}.")  # fmt: skip
        if self.epochs < 1:
            raise UserError(f"--epochs must be at least 1, not {self.epochs}.")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, not {self.batch_size}.")
        if not self.lr > 0:
            raise UserError(f"--lr must be above 0, not {self.lr}.")
        if self.processes < 0:
            raise UserError(f"--processes must be 1 or more (0: the default), not "
                            f"{self.processes}.")
        if self.processes > 1 and (self.kvstore or self.gpu):
            raise UserError("--processes shares a batch between this machine's cores: "
                            "not with --gpu or a distributed run.")  # fmt: skip
        if self.processes > 1 and self.batch_size % self.processes:
            raise UserError(f"--batch-size {self.batch_size} is shared by {self.processes} "
                            "processes: make it a multiple of that.")  # fmt: skip
        if self.kvstore not in ("", "dist_sync"):
            raise UserError(f"--kvstore {self.kvstore!r}: only dist_sync is supported.")
        if self.run_id and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.run_id):
            raise UserError(f"--run-id {self.run_id!r}: use letters, digits, '.', '_' and '-'.")


@dataclass(frozen=True)
class TrainStarted(Event):
    run_id: str
    dataset: str
    network: str
    epochs: int
    batch_size: int
    lr: float
    train_samples: int
    test_samples: int
    threads: int
    rank: int = 0  # this worker's, in a distributed run
    workers: int = 1
    processes: int = 1  # on this machine, sharing each batch

    def render_text(self) -> str:
        who = f"worker {self.rank} of {self.workers}: " if self.workers > 1 else ""
        how = (f"{self.processes} processes x {self.threads} thread(s)" if self.processes > 1
               else f"{self.threads} thread(s)")
        return (f"[bold]{who}Training[/] {self.network} on {self.dataset} ({self.train_samples}"
                f" images, {self.test_samples} to test), {self.epochs} epoch(s), batch "
                f"{self.batch_size}, lr {self.lr:g}, {how}; run {self.run_id}")


@dataclass(frozen=True)
class TrainProgress(Event):
    """Within an epoch, every half second or so."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    samples_per_s: float
    loss: float
    eta_s: float

    def render_text(self) -> str:
        return (f"  epoch {self.epoch}/{self.epochs} batch {self.batch}/{self.batches}: "
                f"loss {self.loss:.4f}, {self.samples_per_s:,.0f} samples/s, ETA "
                f"{self.eta_s:.0f} s")


@dataclass(frozen=True)
class EpochDone(Event):
    epoch: int
    epochs: int
    loss: float
    train_accuracy: float
    val_accuracy: float
    samples_per_s: float
    seconds: float
    eta_s: float

    def render_text(self) -> str:
        return (f"[bold]Epoch {self.epoch}/{self.epochs}[/]: loss {self.loss:.4f}, train "
                f"accuracy {self.train_accuracy:.4f}, validation accuracy "
                f"[bold]{self.val_accuracy:.4f}[/], {self.samples_per_s:,.0f} samples/s, "
                f"{self.seconds:.1f} s")


@dataclass(frozen=True)
class TrainDone(Event):
    run_id: str
    model: str
    path: str
    test_accuracy: float
    seconds: float
    metrics: dict = field(default_factory=dict)

    def render_text(self) -> str:
        if not self.path:  # a distributed run's other workers: the first one exports
            return (f"[bold green]Trained[/]: test accuracy {self.test_accuracy:.4f} in "
                    f"{self.seconds:.0f} s (the first worker exports the model)")
        return (f"[bold green]Trained[/] {self.model}: test accuracy {self.test_accuracy:.4f} "
                f"in {self.seconds:.0f} s, exported to {self.path} (serve it with "
                f"`dlworkshop serve --model {self.model}`)")


def new_run_id() -> str:
    """When, and four random hex digits: sortable, and unique enough for one learner."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]


def default_threads(network: str) -> int:
    """One OpenMP thread: measured here, a second one slows the MLP (by half) and LeNet
    too (2,480 -> 1,880 samples/s for ours, 2,540 -> 1,990 for the reference script);
    ResNet-20's larger convolutions may gain from every core."""
    from dlworkshop import cores

    return cores.available() if network == "resnet20" else 1


def default_processes(options: Options) -> int:
    """Replicas sharing each batch: one per core (up to the per-replica batch of 16) for
    LeNet and the default CNN, where each batch's operators keep one core busy for
    milliseconds; one process for the MLP, whose batches are too small to be worth an
    exchange, for ResNet-20 (its OpenMP threads use the cores), on a GPU and when
    distributed."""
    if options.gpu or options.kvstore or options.network not in ("lenet", "cnn"):
        return 1
    from dlworkshop import cores

    return max([p for p in range(1, cores.available() + 1)
                if options.batch_size % p == 0 and options.batch_size // p >= 16] or [1])


def set_threads(network: str) -> int:
    """Set the OpenMP threads for this process before MXNet loads; returns the count."""
    wanted = os.environ.get("OMP_NUM_THREADS") or str(default_threads(network))
    os.environ["OMP_NUM_THREADS"] = wanted
    return int(wanted)


# ---- networks ------------------------------------------------------------------------
def build_network(name: str, classes: int):
    """The reference script's MLP and LeNet, and a CIFAR ResNet-20, as Gluon blocks."""
    from mxnet.gluon import nn

    if name == "mlp":
        net = nn.HybridSequential()
        net.add(nn.Flatten(), nn.Dense(128, activation="relu"), nn.Dense(64, activation="relu"),
                nn.Dense(classes))  # fmt: skip
        return net
    if name in ("lenet", "cnn"):
        # "lenet" is the reference's (tanh); "cnn", the default, is the same shape with ReLU:
        # with the cosine schedule, 0.907 on Fashion-MNIST in 5 epochs (lenet, with Glorot's
        # initialisation, 0.909).
        act = "tanh" if name == "lenet" else "relu"
        net = nn.HybridSequential()
        net.add(nn.Conv2D(20, 5, activation=act), nn.MaxPool2D(2, 2),
                nn.Conv2D(50, 5, activation=act), nn.MaxPool2D(2, 2),
                nn.Flatten(), nn.Dense(500, activation=act), nn.Dense(classes))  # fmt: skip
        return net
    from mxnet.gluon.model_zoo.vision.resnet import BasicBlockV1

    net = nn.HybridSequential()
    net.add(nn.Conv2D(16, 3, padding=1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"))
    channels_in = 16
    for stage, channels in enumerate((16, 32, 64)):
        for i in range(3):
            stride = 2 if stage > 0 and i == 0 else 1
            net.add(BasicBlockV1(channels, stride, downsample=channels != channels_in,
                                 in_channels=channels_in))  # fmt: skip
            channels_in = channels
    net.add(nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dense(classes))
    return net


def initializer(network: str):
    """Glorot's uniform initialisation for LeNet's tanh layers (what it was made for:
    0.909 on Fashion-MNIST in 5 epochs here, against 0.888 with the ReLU one), and the
    magnitude-2.24 Xavier that suits ReLU for the rest."""
    import mxnet as mx

    if network == "lenet":
        return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)
    return mx.init.Xavier(magnitude=2.24)


def _step_block(net):
    """Network, loss and the batch's summed loss and correct answers as one block,
    hybridized into one graph per training step (each operation pushed from Python costs
    the loop time)."""
    from mxnet import gluon

    class Step(gluon.HybridBlock):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.loss = gluon.loss.SoftmaxCrossEntropyLoss()

        def hybrid_forward(self, F, x, y):
            out = self.net(x)
            loss = self.loss(out, y)
            right = F.sum(F.argmax(out, axis=1) == y)
            return loss, F.stop_gradient(F.sum(loss)), F.stop_gradient(right)

    return Step()


# ---- training ------------------------------------------------------------------------
def _evaluate(net, x, y, batch: int = 1000) -> float:
    from mxnet import nd

    correct = nd.zeros((1,))
    for start in range(0, x.shape[0], batch):
        out = net(x[start:start + batch])
        correct += (out.argmax(axis=1) == y[start:start + batch].astype("float32")).sum()
    return float(correct.asscalar()) / x.shape[0]


def train(options: Options, stop: Callable[[], bool] = lambda: False,
          export: bool = True) -> Iterator[Event]:  # fmt: skip
    """Train, yielding events; export the model (atomically) when it finishes."""
    options.check()
    from dlworkshop.classifier import datasets

    data = datasets.load(options.dataset, Path(options.data) if options.data else None)
    threads = set_threads(options.network)
    replicas = options.processes or default_processes(options)
    import mxnet as mx

    kv, rank, workers = None, 0, 1
    if options.kvstore:
        kv = mx.kv.create(options.kvstore)  # joins the scheduler: waits for every node
        rank, workers = kv.rank, kv.num_workers
    if options.batch_size % workers:
        raise UserError(f"--batch-size {options.batch_size} is the total over {workers} "
                        "workers: make it a multiple of that.")  # fmt: skip
    run_id = options.run_id or new_run_id()
    n, _, batches = _shares(options, len(data.train_x), workers, replicas)
    if batches == 0:
        raise UserError(f"--batch-size {options.batch_size} is larger than the {n} training "
                        "images.")  # fmt: skip
    yield TrainStarted(run_id, options.dataset,
                       options.network, options.epochs, options.batch_size, options.lr, n,
                       len(data.test_x), threads, rank, workers, replicas)  # fmt: skip
    started = time.monotonic()
    net, history = yield from _fit(options, data, kv, replicas, stop)
    test_acc = history[-1]["val_accuracy"]
    total = time.monotonic() - started
    metrics = {"run_id": run_id, "dataset": options.dataset, "network": options.network,
               "epochs": options.epochs, "batch_size": options.batch_size, "lr": options.lr,
               "test_accuracy": test_acc, "seconds": round(total, 2), "history": history,
               "threads": threads, "processes": replicas, "workers": workers,
               "rank": rank}  # fmt: skip
    name = f"{options.network}-{options.dataset}-{run_id}"
    # The workers' copies are identical: the first one exports.
    path = str(export_model(net, data, name, metrics)) if export and rank == 0 else ""
    yield TrainDone(run_id, name, path, test_acc, round(total, 2), metrics)


def _shares(options: Options, images: int, workers: int,
            replicas: int) -> tuple[int, int, int]:  # fmt: skip
    """(training images per distributed worker, images per replica in each step, steps
    per epoch). The reference drops the last partial batch too."""
    n, batch = images // workers, options.batch_size // workers // replicas
    return n, batch, n // (batch * replicas)


def _replica(options: Options, exchange) -> None:
    """A spawned replica's whole run: replica 0's loop on its own share, without events."""
    from dlworkshop.classifier import datasets

    data = datasets.load(options.dataset, Path(options.data) if options.data else None)
    set_threads(options.network)
    for _ in _fit(options, data, None, exchange.replicas, lambda: False, exchange):
        pass


def _fit(options: Options, data, kv, replicas: int, stop: Callable[[], bool],
         exchange=None) -> Generator[Event, None, tuple[Any, list[dict]]]:  # fmt: skip
    """The epochs, on one replica (replica 0 starts the others); the net and each
    epoch's numbers."""
    import mxnet as mx
    import numpy as np
    from mxnet import autograd, gluon, nd

    from dlworkshop.classifier import replicas as rep
    from dlworkshop.classifier.schedule import EpochCosine

    # Every parameter updated in one call: the optimizer aggregates up to this many.
    os.environ.setdefault("MXNET_OPTIMIZER_AGGREGATION_SIZE", "60")
    ctx = mx.gpu(0) if options.gpu else mx.cpu()
    if options.gpu and mx.context.num_gpus() == 0:
        raise UserError("--gpu: this machine has no GPU that MXNet can use.")
    mx.random.seed(options.seed)
    rank, workers = (kv.rank, kv.num_workers) if kv else (0, 1)
    rng = np.random.default_rng(options.seed + rank)  # the same order on every replica
    # Each distributed worker trains on its own shard; all take the same number of steps,
    # or the synchronous parameter server would wait for a push that never comes. Replicas
    # on this machine share every batch of the one shard instead.
    shard_x, shard_y = data.train_x[rank::workers], data.train_y[rank::workers]
    _, batch, batches = _shares(options, len(data.train_x), workers, replicas)
    net = build_network(options.network, len(data.labels))
    net.initialize(initializer(options.network), ctx=ctx)
    test_x = nd.array(data.test_x, ctx=ctx, dtype="float32") / 255
    test_y = nd.array(data.test_y, ctx=ctx, dtype="int32")
    net(test_x[:batch])  # the layers' shapes, deferred until a first pass, are known now
    team = None
    try:
        if replicas > 1:
            weights = [p.data() for p in net.collect_params().values()]
            size = sum(w.size for w in weights)
            if exchange is None:  # replica 0: start the others, then share its weights
                team = rep.Team(replicas, size, _replica, (options,))
                exchange = team.exchange
            mine = rep.flat(weights) if exchange.rank == 0 else None
            rep.unflatten(exchange.first(mine, size), weights)
        me = exchange.rank if exchange else 0
        step = _step_block(net)
        step.hybridize(static_alloc=True, static_shape=True)
        # Distributed, the optimizer (and so its schedule) runs on the servers, which sum
        # the workers' gradients and send back the weights. (Summing there but updating on
        # each worker, update_on_kvstore=False, sometimes never learned here: not used.)
        schedule = EpochCosine(options.lr, options.epochs, batches)
        sgd = {"learning_rate": options.lr, "momentum": 0.9, "wd": 0.0001,
               "lr_scheduler": schedule}  # fmt: skip
        if exchange is None:
            trainer = gluon.Trainer(net.collect_params(), "sgd", sgd, kvstore=kv or "device")
        else:  # Gluon's SGD on the replicas' summed gradients, as its Trainer would run it
            shared = rep.SharedGradients(exchange, list(net.collect_params().values()))
            optimizer = mx.optimizer.create("sgd", rescale_grad=1 / options.batch_size,
                                            param_dict=dict(enumerate(shared.params)),
                                            **sgd)  # fmt: skip
            states = [optimizer.create_state_multi_precision(i, w)
                      for i, w in enumerate(shared.weights)]  # fmt: skip
            indices = list(range(len(states)))
        epoch_seconds: list[float] = []
        history: list[dict] = []
        for epoch in range(1, options.epochs + 1):
            order = rng.permutation(len(shard_x))[:batches * batch * replicas]
            order = order.reshape(batches, replicas, batch)[:, me].reshape(-1)
            x_all = nd.array(shard_x[order], ctx=ctx, dtype="float32") / 255
            y_all = nd.array(shard_y[order], ctx=ctx, dtype="float32")
            loss_sum, correct = nd.zeros((1,), ctx=ctx), nd.zeros((1,), ctx=ctx)
            epoch_start = last_report = time.monotonic()
            in_flight: deque = deque()
            for b in range(batches):
                if stop():
                    raise UserError("Training stopped; nothing was exported.")
                x = x_all[b * batch:(b + 1) * batch]
                y = y_all[b * batch:(b + 1) * batch]
                with autograd.record():
                    loss, batch_loss, batch_right = step(x, y)
                loss.backward()
                if exchange is None:
                    trainer.step(options.batch_size)  # gradients summed over the whole batch
                else:  # every replica's gradients, summed: the whole batch's
                    optimizer.update_multi_precision(indices, shared.weights, shared.summed(),
                                                     states)  # fmt: skip
                loss_sum += batch_loss
                correct += batch_right
                # A few batches queued ahead keep the engine busy; without a bound the loop
                # queued a whole epoch in half a second, and progress (and Stop) came at its
                # end.
                in_flight.append(loss)
                if len(in_flight) > IN_FLIGHT:
                    in_flight.popleft().wait_to_read()
                now = time.monotonic()
                if now - last_report >= REPORT_EVERY and me == 0:
                    last_report = now
                    done = (b + 1) * batch * replicas
                    # This replica's share of the batches so far stands for them all.
                    mean_loss = float(loss_sum.asscalar()) / (done / replicas)
                    speed = done / (time.monotonic() - epoch_start)
                    left = (batches - b - 1) * batch * replicas + \
                        (options.epochs - epoch) * batches * batch * replicas  # fmt: skip
                    yield TrainProgress(epoch, options.epochs, b + 1, batches,
                                        round(speed, 1), round(mean_loss, 5),
                                        round(left / speed, 1))  # fmt: skip
            seen = batches * batch * replicas
            sums = np.array([loss_sum.asscalar(), correct.asscalar()], np.float32)
            if exchange is not None:
                sums = exchange.total(sums)
            seconds = time.monotonic() - epoch_start
            if me:
                continue  # replica 0 evaluates and reports
            val_acc = _evaluate(net, test_x, test_y)
            epoch_seconds.append(time.monotonic() - epoch_start)
            eta = (options.epochs - epoch) * sum(epoch_seconds) / len(epoch_seconds)
            done_event = EpochDone(epoch, options.epochs, round(float(sums[0]) / seen, 5),
                                   round(float(sums[1]) / seen, 5), round(val_acc, 5),
                                   round(seen / seconds, 1), round(seconds, 2),
                                   round(eta, 1))  # fmt: skip
            history.append(done_event.to_dict())
            yield done_event
    except rep.ReplicaLost:
        if team is None:  # a spawned replica: it leaves quietly (_run_replica)
            raise
        raise UserError(rep.LOST.format(detail=team.failure())) from None
    finally:
        if team is not None:
            team.close()
    return net, history


def export_model(net, data, name: str, metrics: dict) -> Path:
    """Symbol, params, the registry's metadata and the metrics, in a folder that appears
    whole or not at all (written aside, then renamed)."""
    from dlworkshop.classifier.registry import TRAINED_META, ModelSpec, trained_dir

    root = trained_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    partial = root / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        net.export(str(partial / "model"), epoch=0)
        channels, size, _ = data.shape
        spec = ModelSpec(
            name=name, title=f"{metrics['network']} trained on {data.name} (run "
                             f"{metrics['run_id']}, test accuracy {metrics['test_accuracy']:.4f})",
            format="mxnet", assets=(), input_size=size, channels=channels,
            output="logits", labels=data.labels,
            cat_labels=("cat",) if "cat" in data.labels else (),
            source=f"trained by dlworkshop on {data.name}", extra={"metrics": "metrics.json"})
        (partial / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (partial / TRAINED_META).write_text(json.dumps(spec.to_dict(), indent=2))
        partial.rename(final)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise UserError(f"Could not export the model to {final}: {exc.strerror or exc}; "
                        "nothing was kept.") from None
    return final
