"""The Appendix's recommender: matrix factorisation in Gluon, against honest baselines.

A rating is predicted as global mean + user bias + item bias + user vector . item vector,
learned on the training ratings and judged by RMSE on held-out ones. Offline it trains on
a synthetic low-rank rating matrix with a known noise floor (the best any model can do);
online on MovieLens 100k, downloaded and checked against its pinned sha256.
"""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from dlworkshop.classifier.fetch import Asset, fetch
from dlworkshop.errors import UserError
from dlworkshop.events import Event
from dlworkshop.paths import cache_dir, config_dir

DATASETS = ("synthetic", "movielens")
# GroupLens's archive (MD5 0e33842e24a9c977be4e0107933c0723, as GroupLens publishes it).
MOVIELENS = Asset("ml-100k.zip", "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                  "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                  4924029)  # fmt: skip
# The last run's figures, kept with the learner's progress, for the Appendix checkpoint.
RESULT = "recommend-latest.json"


@dataclass(frozen=True)
class Ratings:
    """Ratings as (user, item, rating) arrays, split into training and held-out parts."""

    name: str
    users: int
    items: int
    train: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    titles: tuple[str, ...] = ()  # item names, where the dataset has them
    noise: float = float("nan")  # the synthetic data's noise: no model's RMSE goes below


def _split(name: str, u, i, r, users: int, items: int, seed: int, titles=(),
           noise: float = float("nan")) -> Ratings:  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(r))
    cut = int(len(r) * 0.9)
    a, b = order[:cut], order[cut:]
    return Ratings(name, users, items, (u[a], i[a], r[a]), (u[b], i[b], r[b]), tuple(titles),
                   noise)  # fmt: skip


def synthetic(users: int = 600, items: int = 400, rank: int = 6, density: float = 0.1,
              noise: float = 0.3, seed: int = 7) -> Ratings:  # fmt: skip
    """A low-rank rating matrix around 3.5 with user and item biases and Gaussian noise;
    only `density` of it is observed."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 1 / math.sqrt(rank), (users, rank))
    q = rng.normal(0, 1 / math.sqrt(rank), (items, rank))
    bu, bi = rng.normal(0, 0.3, users), rng.normal(0, 0.3, items)
    observed = rng.random((users, items)) < density
    u, i = np.nonzero(observed)
    r = 3.5 + bu[u] + bi[i] + (p[u] * q[i]).sum(1) + rng.normal(0, noise, len(u))
    return _split("synthetic", u.astype(np.int32), i.astype(np.int32), r.astype(np.float32),
                  users, items, seed, noise=noise)  # fmt: skip


def movielens(seed: int = 7) -> Ratings:
    """MovieLens 100k (943 users, 1,682 films, 100,000 ratings of 1 to 5 stars)."""
    try:
        archive = fetch(MOVIELENS, cache_dir() / "datasets" / "movielens", mirror="")
    except UserError as exc:
        raise UserError(f"MovieLens is downloaded from its public URL, and that failed ({exc}). "
                        "Offline, use --dataset synthetic.") from None  # fmt: skip
    with zipfile.ZipFile(archive) as z:
        data = np.loadtxt(io.BytesIO(z.read("ml-100k/u.data")), dtype=np.int64)
        items = z.read("ml-100k/u.item").decode("latin-1").splitlines()
    titles = [line.split("|")[1] for line in items if line]
    u, i, r = data[:, 0] - 1, data[:, 1] - 1, data[:, 2].astype(np.float32)
    return _split("movielens", u.astype(np.int32), i.astype(np.int32), r, int(u.max()) + 1,
                  int(i.max()) + 1, seed, titles)  # fmt: skip


def load(name: str) -> Ratings:
    if name == "synthetic":
        return synthetic()
    if name == "movielens":
        return movielens()
    raise UserError(f"There is no rating set called {name!r}: pick one of {', '.join(DATASETS)}.")


def _rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def baselines(data: Ratings) -> dict[str, float]:
    """Held-out RMSE of the global mean, each user's mean and each item's mean (the unseen
    fall back to the global mean)."""
    u, i, r = data.train
    tu, ti, tr = data.test
    mean = float(r.mean())

    def means(index: np.ndarray, size: int) -> np.ndarray:
        sums, counts = np.bincount(index, r, size), np.bincount(index, minlength=size)
        return np.where(counts > 0, sums / np.maximum(counts, 1), mean)

    return {"global mean": _rmse(np.full(len(tr), mean), tr),
            "user mean": _rmse(means(u, data.users)[tu], tr),
            "item mean": _rmse(means(i, data.items)[ti], tr)}  # fmt: skip


@dataclass(frozen=True)
class RecommendStarted(Event):
    dataset: str
    users: int
    items: int
    ratings: int
    baselines: dict = field(default_factory=dict)

    def render_text(self) -> str:
        best = ", ".join(f"{k} {v:.4f}" for k, v in self.baselines.items())
        return (f"[bold]Matrix factorisation[/] on {self.dataset}: {self.users} users, "
                f"{self.items} items, {self.ratings:,} ratings; baseline RMSE: {best}")


@dataclass(frozen=True)
class RecommendEpoch(Event):
    epoch: int
    epochs: int
    train_rmse: float
    test_rmse: float

    def render_text(self) -> str:
        return (f"Epoch {self.epoch}/{self.epochs}: RMSE train {self.train_rmse:.4f}, "
                f"held out [bold]{self.test_rmse:.4f}[/]")


@dataclass(frozen=True)
class RecommendDone(Event):
    dataset: str
    test_rmse: float
    baselines: dict
    gain: float  # 1 - RMSE / the item mean's RMSE
    noise: float
    user: int
    recommendations: list = field(default_factory=list)  # [{"item", "title", "score"}]

    def render_text(self) -> str:
        floor = f"; the noise floor is {self.noise:.4f}" if not math.isnan(self.noise) else ""
        top = "\n".join(f"  {n + 1:>2}. {r['title']} ({r['score']:.2f})"
                        for n, r in enumerate(self.recommendations))  # fmt: skip
        return (f"[bold green]Held-out RMSE {self.test_rmse:.4f}[/], {self.gain:.0%} below the "
                f"item mean's {self.baselines['item mean']:.4f}{floor}.\nTop "
                f"{len(self.recommendations)} for user {self.user}:\n{top}")


def train(dataset: str = "synthetic", epochs: int = 25, factors: int = 16,
          user: int = 0, top: int = 10, seed: int = 42) -> Iterator[Event]:  # fmt: skip
    """Train, yielding an event per epoch; end with the held-out RMSE and recommendations."""
    if epochs < 1:
        raise UserError(f"--epochs must be at least 1, not {epochs}.")
    data = load(dataset)
    if not 0 <= user < data.users:
        raise UserError(f"--user {user}: the users are numbered 0 to {data.users - 1}.")
    import mxnet as mx
    from mxnet import autograd, gluon, nd

    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    base = baselines(data)
    u, i, r = data.train
    mean = float(r.mean())
    yield RecommendStarted(data.name, data.users, data.items, len(r) + len(data.test[2]), base)

    class Factorisation(gluon.HybridBlock):
        def __init__(self) -> None:
            super().__init__()
            self.p = gluon.nn.Embedding(data.users, factors)
            self.q = gluon.nn.Embedding(data.items, factors)
            self.bu = gluon.nn.Embedding(data.users, 1)
            self.bi = gluon.nn.Embedding(data.items, 1)

        def hybrid_forward(self, F, users, items):
            dot = (self.p(users) * self.q(items)).sum(axis=1)
            return dot + self.bu(users).reshape((-1,)) + self.bi(items).reshape((-1,)) + mean

    net = Factorisation()
    net.initialize(mx.init.Normal(0.01))
    net.hybridize(static_alloc=True)
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01, "wd": 1e-4})
    loss_fn = gluon.loss.L2Loss()
    tu, ti = nd.array(data.test[0]), nd.array(data.test[1])
    batch = 512
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(r))
        xu, xi, xr = nd.array(u[order]), nd.array(i[order]), nd.array(r[order])
        total = nd.zeros((1,))
        for start in range(0, len(r), batch):
            bu, bi, br = (a[start:start + batch] for a in (xu, xi, xr))
            with autograd.record():
                loss = loss_fn(net(bu, bi), br)
            loss.backward()
            trainer.step(len(br))
            total += loss.sum()
        train_rmse = math.sqrt(2 * float(total.asscalar()) / len(r))  # L2Loss halves the square
        test_rmse = _rmse(net(tu, ti).asnumpy(), data.test[2])
        yield RecommendEpoch(epoch, epochs, round(train_rmse, 5), round(test_rmse, 5))
    seen = set(i[u == user].tolist())
    items = nd.arange(data.items)
    scores = net(nd.full((data.items,), user), items).asnumpy()
    ranked = [int(x) for x in np.argsort(-scores) if int(x) not in seen][:top]
    picks = [{"item": x, "title": data.titles[x] if data.titles else f"item {x}",
              "score": round(float(scores[x]), 3)} for x in ranked]  # fmt: skip
    gain = 1 - test_rmse / base["item mean"]
    done = RecommendDone(data.name, round(test_rmse, 5), base, round(gain, 4), data.noise, user,
                         picks)  # fmt: skip
    _remember(done)
    yield done


def _remember(done: RecommendDone) -> None:
    """The run's figures, for the Appendix checkpoint (written whole or not at all)."""
    from dlworkshop.atomic import write_atomic

    body = {**done.to_dict(), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_atomic(config_dir() / RESULT, json.dumps(body, default=str).encode(), mode=0o644)


def check_trained(ctx):
    """Checkpoint: a matrix factorisation ran and beat the item-mean baseline."""
    from dlworkshop.checkpoints import CheckResult

    try:
        body = json.loads((config_dir() / RESULT).read_text())
    except (OSError, ValueError):
        return CheckResult.fail("No recommender trained yet: `dlworkshop train --task recommend`.")
    item = body["baselines"]["item mean"]
    if body["test_rmse"] >= item:
        return CheckResult.fail(f"The last run's RMSE {body['test_rmse']:.4f} did not beat the "
                                f"item mean's {item:.4f}: train longer.")  # fmt: skip
    return CheckResult.ok(f"{body['dataset']}: held-out RMSE {body['test_rmse']:.4f}, "
                          f"{body['gain']:.0%} below the item mean's {item:.4f}")  # fmt: skip
