"""An MXNet Model Server (MMS 1.0.x) handler for the same converted MobileNetV2.

It loads the model files packed into the .mar with MXNet and prepares each image with
dlworkshop's own `model_input`, so both servers do the same work per image. With
DLWORKSHOP_BENCH_FUSED=1 in its environment it also runs the same oneDNN-fused graph
as `dlworkshop serve`, so the comparison is of the servers alone.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

_MODEL = None


class _Model:
    def __init__(self, model_dir: str) -> None:
        import mxnet as mx

        from dlworkshop.classifier.model import Judge
        from dlworkshop.classifier.registry import BUILTIN

        self.spec = BUILTIN["mobilenetv2-imagenet"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.net = mx.gluon.nn.SymbolBlock.imports(
                os.path.join(model_dir, "model-symbol.json"), ["data"],
                os.path.join(model_dir, "model-0000.params"),
            )  # fmt: skip
            self.net.hybridize(static_alloc=True, static_shape=True)
            if os.environ.get("DLWORKSHOP_BENCH_FUSED") == "1":
                self.net.optimize_for(mx.nd.zeros((1, 3, 224, 224)), backend="MKLDNN",
                                      static_alloc=True, static_shape=True)  # fmt: skip
        with open(os.path.join(model_dir, "imagenet_labels.txt")) as fh:
            labels = fh.read().splitlines()
        self.judge = Judge(self.spec, labels)  # the same verdict, from the packed labels

    def predict(self, bodies: list[bytes]) -> list[str]:
        import mxnet as mx

        from dlworkshop.classifier import preprocess
        from dlworkshop.classifier.model import model_input

        out: list[dict | None] = []
        arrays = []
        for body in bodies:
            try:
                arrays.append(model_input(self.spec, body))
                out.append(None)
            except preprocess.BadImage as exc:
                out.append({"error": str(exc)})
        if arrays:
            probs = self.net(mx.nd.array(np.stack(arrays))).asnumpy()
            verdicts = iter(self.judge.verdicts(probs))
            for i, item in enumerate(out):
                if item is None:
                    out[i] = next(verdicts).to_dict()
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
