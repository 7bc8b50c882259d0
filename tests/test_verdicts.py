"""The verdict's top-k and its JSON form, without MXNet (the server front computes them)."""

from __future__ import annotations

import dataclasses

import numpy as np

from dlworkshop.classifier import model as model_mod
from dlworkshop.classifier import registry


def test_top_k_is_the_k_largest_in_order_and_to_dict_is_the_dataclass() -> None:
    spec = registry.get("cifar10-resnet20")  # ten labels, "cat" among them
    judge = model_mod.Judge(spec)
    rng = np.random.default_rng(7)
    rows = rng.dirichlet(np.ones(len(judge.labels)), size=50).astype(np.float32)
    for k in (1, 5, len(judge.labels), len(judge.labels) + 3):
        for row, prediction in zip(rows, judge.verdicts(rows, k), strict=True):
            expected = np.argsort(-row, kind="stable")[:k]
            assert [t.label for t in prediction.top_k] == [judge.labels[i] for i in expected]
            assert prediction.to_dict() == dataclasses.asdict(prediction)
