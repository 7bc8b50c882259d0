"""Our TFLite-to-MXNet converter agrees with the TFLite interpreter on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS, PHOTOS, needs_models, needs_photos

from dlworkshop.classifier import model as model_mod
from dlworkshop.classifier import preprocess

pytestmark = [pytest.mark.slow, needs_models, needs_photos]
litert = pytest.importorskip("ai_edge_litert.interpreter")


def photos() -> list:
    return sorted(p for p in PHOTOS.rglob("*") if p.suffix in (".png", ".jpg", ".bmp"))


def test_converted_mobilenet_matches_the_tflite_interpreter(record_property) -> None:
    interp = litert.Interpreter(model_path=str(MODELS / "mobilenet_v2_1.0_224_quant.tflite"))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    out_scale, out_zero = out["quantization"]
    clf = model_mod.load("mobilenetv2-imagenet")

    agree, worst, rows = 0, 0.0, []
    for path in photos():
        img = preprocess.resize_crop(preprocess.decode(path.read_bytes()), 224, 0.875)
        pixels = np.asarray(img, np.uint8)
        interp.set_tensor(inp["index"], pixels[None])
        interp.invoke()
        ref = (interp.get_tensor(out["index"])[0].astype(np.float32) - out_zero) * out_scale
        ours = clf.probabilities(pixels.transpose(2, 0, 1)[None].astype(np.float32))[0]
        agree += int(ref.argmax() == ours.argmax())
        diff = float(np.abs(ref - ours).max())
        worst = max(worst, diff)
        rows.append(f"{path.name}: tflite {ref.argmax()} mxnet {ours.argmax()} diff {diff:.4f}")
    n = len(rows)
    report = f"top-1 agreement {agree}/{n}; largest probability difference {worst:.4f}"
    record_property("converter", report)
    print("\n".join([*rows, report]))
    assert n >= 20
    assert agree / n >= 0.95, report
    # 8-bit activations round in TFLite and not in our float graph: a little, not a lot.
    assert worst < 0.1, report
