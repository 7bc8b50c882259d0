"""The cat verdict on photos/devset: cats found and dogs or other animals called cats.

Each variant is a rule over the same model's probabilities (plus, for the last, a
mirrored second view), measured on the 27 cats, 36 dogs and 21 other animals of
../shared/photos/devset in one run, with the cost per photo of one and of two views.
Run: .venv/bin/python benchmarks/bench_verdict.py [--model mobilenetv2-imagenet]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from common import MODELS, PHOTOS

os.environ.setdefault("DLWORKSHOP_MODEL_MIRROR", str(MODELS))

KINDS = ("cats", "dogs", "others")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenetv2-imagenet")
    args = parser.parse_args()
    from dlworkshop.classifier import model as model_mod

    classifier = model_mod.load(args.model)
    spec = classifier.spec
    rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {k: [] for k in KINDS}
    one = two = 0.0
    count = 0
    for kind in KINDS:
        for path in sorted((PHOTOS / "devset" / kind).iterdir()):
            data = path.read_bytes()
            started = time.perf_counter()
            first = classifier.probabilities(classifier.preprocess(data)[None])[0]
            one += time.perf_counter() - started
            started = time.perf_counter()
            array = classifier.preprocess(data)
            # The mirror image is the same array read right to left (CHW: the last axis).
            both = classifier.probabilities(np.stack([array, array[:, :, ::-1]]))
            two += time.perf_counter() - started
            rows[kind].append((first, both.mean(axis=0)))
            count += 1

    def mass(threshold: float) -> Callable[[np.ndarray], bool]:
        return lambda row: classifier.cat_scores(row)[0] >= threshold

    def share(threshold: float, minimum: float = 0.01) -> Callable[[np.ndarray], bool]:
        def rule(row: np.ndarray) -> bool:
            cat, part = classifier.cat_scores(row)
            return part >= threshold and cat >= minimum

        return rule

    variants = [
        ("cat mass >= 0.5 (the verdict before)", mass(0.5), False),
        ("cat mass >= 0.2", mass(0.2), False),
        ("cats' share of animal mass >= 0.4, mass >= 0.01", share(0.4), False),
        ("share >= 0.3, mass >= 0.01 (the default)", share(0.3), False),
        ("share >= 0.2, mass >= 0.01", share(0.2), False),
        ("share >= 0.5, mean of photo and its mirror image", share(0.5), True),
    ]
    results = []
    per_photo = {False: round(one / count * 1e3, 1), True: round(two / count * 1e3, 1)}
    for name, rule, flipped in variants:
        called = {k: sum(rule(both if flipped else first) for first, both in rows[k])
                  for k in KINDS}  # fmt: skip
        results.append({"variant": name, "cats_found": called["cats"],
                        "dogs_called_cats": called["dogs"],
                        "others_called_cats": called["others"],
                        "ms_per_photo": per_photo[flipped]})  # fmt: skip
    highest = {k: round(max(classifier.cat_scores(first)[1] for first, _ in rows[k]), 3)
               for k in ("dogs", "others")}  # fmt: skip
    print(f"| variant | cats found (of {len(rows['cats'])}) | dogs called cats (of "
          f"{len(rows['dogs'])}) | others called cats (of {len(rows['others'])}) | "
          "ms per photo |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['variant']} | {r['cats_found']} | {r['dogs_called_cats']} | "
              f"{r['others_called_cats']} | {r['ms_per_photo']} |")  # fmt: skip
    print(f"\nHighest share among dogs: {highest['dogs']}, among others: {highest['others']}")
    print(json.dumps({"model": spec.name, "fused": classifier.fused, "results": results,
                      "highest_share": highest}))  # fmt: skip


if __name__ == "__main__":
    main()
