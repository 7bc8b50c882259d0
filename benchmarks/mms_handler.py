"""An MXNet Model Server (MMS 1.0.x) handler for the same converted MobileNetV2.

It loads the model files packed into the .mar with MXNet, and decodes and normalises
exactly as `dlworkshop serve` does, so both servers do the same work per image.
"""

from __future__ import annotations

import json
import os

import numpy as np

_MODEL = None


class _Model:
    def __init__(self, model_dir: str) -> None:
        import mxnet as mx

        from dlworkshop.classifier.registry import BUILTIN

        self.spec = BUILTIN["mobilenetv2-imagenet"]
        self.net = mx.gluon.nn.SymbolBlock.imports(
            os.path.join(model_dir, "model-symbol.json"), ["data"],
            os.path.join(model_dir, "model-0000.params"),
        )  # fmt: skip
        self.net.hybridize(static_alloc=True, static_shape=True)
        with open(os.path.join(model_dir, "imagenet_labels.txt")) as fh:
            self.labels = fh.read().splitlines()
        cats = set(self.spec.cat_labels)
        self.cats = [i for i, name in enumerate(self.labels) if name in cats]

    def predict(self, bodies: list[bytes]) -> list[dict]:
        import mxnet as mx

        from dlworkshop.classifier import preprocess

        out: list[dict | None] = []
        arrays = []
        for body in bodies:
            try:
                img = preprocess.resize_crop(preprocess.decode(body), 224, 0.875)
                arrays.append(preprocess.to_array(img, 1.0, (0, 0, 0), (1, 1, 1)))
                out.append(None)
            except preprocess.BadImage as exc:
                out.append({"error": str(exc)})
        if arrays:
            probs = self.net(mx.nd.array(np.stack(arrays))).asnumpy()
            rows = iter(probs)
            for i, item in enumerate(out):
                if item is None:
                    row = next(rows)
                    top = np.argsort(row)[::-1][:5]
                    cat = float(row[self.cats].sum())
                    out[i] = {
                        "is_cat": cat >= self.spec.cat_threshold,
                        "cat_probability": round(cat, 6),
                        "top_k": [
                            {"label": self.labels[j], "probability": float(row[j])} for j in top
                        ],
                        "model": self.spec.name,
                    }
        return [json.dumps(item) for item in out]


def handle(data, context):
    """MMS entry point: `data` is the batch, one dict per request."""
    global _MODEL
    if _MODEL is None:
        _MODEL = _Model(context.system_properties.get("model_dir"))
    if data is None:
        return None
    bodies = []
    for item in data:
        body = item.get("data") or item.get("body") or b""
        bodies.append(body if isinstance(body, bytes | bytearray) else bytes(body))
    return _MODEL.predict(bodies)
