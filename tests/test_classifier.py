"""Real MXNet, real weights, real photos: is it a cat?"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PHOTOS, needs_models, needs_photos
from helpers import json_lines, run_cli

from dlworkshop.classifier import model as model_mod

pytestmark = [pytest.mark.slow, needs_models, needs_photos]

CATS = ["skimage_chelsea.png", "coral/cat.bmp", "coral/cat_720p.jpg",
        "coral/imprinting_cat_test_0.bmp", "coral/imprinting_cat_train_0.bmp"]  # fmt: skip
NOT_CATS = ["skimage_coffee.png", "skimage_astronaut.png", "skimage_rocket.png",
            "sklearn_china.png", "sklearn_flower.png", "coral/pets.jpg", "coral/bird.bmp",
            "coral/imprinting_dog_test_0.bmp", "coral/hot_dog.jpg", "coral/parrot.jpg"]  # fmt: skip


def test_classify_json_tells_cats_from_everything_else() -> None:
    sources = [str(PHOTOS / p) for p in CATS + NOT_CATS]
    out = run_cli("classify", "--json", *sources)
    assert out.returncode == 0, out.stderr
    events = json_lines(out.stdout)
    assert [e["source"] for e in events] == sources
    for event in events:
        assert set(event) >= {"source", "is_cat", "cat_probability", "top_k", "model"}
        assert event["model"] == "mobilenetv2-imagenet"
        assert len(event["top_k"]) == 5
        expected = any(event["source"].endswith(c) for c in CATS)
        assert event["is_cat"] is expected, event


def test_errors_do_not_stop_the_batch(tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    out = run_cli(
        "classify",
        str(text),
        str(PHOTOS / "skimage_chelsea.png"),
        str(tmp_path / "missing.jpg"),
        "--json",
    )
    events = json_lines(out.stdout)
    assert events[0]["type"] == "classify_error" and "not an image" in events[0]["error"]
    assert events[1]["is_cat"] is True
    assert events[2] == {
        "type": "classify_error",
        "source": str(tmp_path / "missing.jpg"),
        "error": f"{tmp_path / 'missing.jpg'} does not exist.",
    }


def test_a_directory_classifies_every_image_in_it() -> None:
    out = run_cli("--json", "classify", str(PHOTOS / "coral"))
    events = json_lines(out.stdout)
    images = [p for p in (PHOTOS / "coral").iterdir() if p.suffix in (".bmp", ".jpg")]
    assert len(events) == len(images)
    assert all(e["type"] == "classified" for e in events)


@pytest.mark.parametrize("name", ["cifar10-resnet20", "cifar10-resnet56"])
def test_cifar_models_call_chelsea_a_cat(name: str) -> None:
    clf = model_mod.load(name)
    (pred,) = clf.predict([(PHOTOS / "skimage_chelsea.png").read_bytes()])
    assert pred.is_cat and pred.top_k[0].label == "cat"
    (pred,) = clf.predict([(PHOTOS / "skimage_coffee.png").read_bytes()])
    assert not pred.is_cat


def test_a_batch_is_one_forward_pass_with_the_same_answers() -> None:
    clf = model_mod.load("mobilenetv2-imagenet")
    images = [(PHOTOS / p).read_bytes() for p in CATS[:2] + NOT_CATS[:2]]
    together = clf.probabilities(np.stack([clf.preprocess(d) for d in images]))
    for data, row in zip(images, together, strict=True):
        alone = clf.probabilities(clf.preprocess(data)[None])[0]
        assert np.allclose(row, alone, atol=1e-5)


def test_models_list_and_fetch() -> None:
    fetched = json_lines(run_cli("--json", "models", "fetch", "cifar10-resnet20").stdout)
    assert fetched[-1]["type"] == "model_ready"
    listed = {e["name"]: e for e in json_lines(run_cli("models", "list", "--json").stdout)}
    assert listed["mobilenetv2-imagenet"]["default"] is True
    assert listed["cifar10-resnet20"]["cached"] is True
    out = run_cli("models", "fetch", "resnet-9000")
    assert out.returncode == 1 and "no model called 'resnet-9000'" in out.stdout


def test_gpu_without_a_gpu_is_a_clear_error() -> None:
    out = run_cli("classify", "--gpu", str(PHOTOS / "skimage_chelsea.png"))
    assert out.returncode == 1
    assert "sees no GPU" in out.stdout


def test_a_model_exported_by_the_training_lab_is_listed_and_used() -> None:
    import json
    import shutil

    from dlworkshop.classifier import registry

    # What the training lab writes: symbol + params + a metadata file, in its own folder.
    base = registry.get("cifar10-resnet20")
    prefix = model_mod.prepare(base)
    folder = registry.trained_dir() / "my-cat-net"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(f"{prefix}-symbol.json", folder / "model-symbol.json")
    shutil.copy(f"{prefix}-0000.params", folder / "model-0000.params")
    meta = registry.ModelSpec(
        name="my-cat-net", title="Trained in Lab 4", format="mxnet", assets=(),
        input_size=32, mean=base.mean, std=base.std, labels=base.labels,
    ).to_dict()  # fmt: skip
    (folder / registry.TRAINED_META).write_text(json.dumps(meta))
    try:
        listed = {e["name"] for e in json_lines(run_cli("--json", "models", "list").stdout)}
        assert "my-cat-net" in listed
        out = run_cli(
            "--json", "classify", "--model", "my-cat-net", str(PHOTOS / "skimage_chelsea.png")
        )
        (event,) = json_lines(out.stdout)
        assert event["model"] == "my-cat-net" and event["is_cat"] is True
    finally:
        shutil.rmtree(folder)


def test_urls_are_fetched_and_a_missing_one_is_an_error() -> None:
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PHOTOS))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        out = run_cli("classify", "--json", f"{base}/skimage_chelsea.png", f"{base}/no-cat.png")
        found, missing = json_lines(out.stdout)
        assert found["type"] == "classified" and found["is_cat"] is True
        assert missing["type"] == "classify_error" and "HTTP 404" in missing["error"]
    finally:
        server.shutdown()
        server.server_close()


def _shared_photos() -> list:
    return sorted(p for p in PHOTOS.rglob("*")
                  if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))  # fmt: skip


def test_the_fused_graph_gives_the_same_top5_on_every_shared_photo() -> None:
    fused = model_mod.load("mobilenetv2-imagenet")
    plain = model_mod.load("mobilenetv2-imagenet", fused=False)
    assert fused.fused and not plain.fused
    photos = _shared_photos()
    assert len(photos) >= 100
    for path in photos:
        array = fused.preprocess(path.read_bytes())[None]
        a, b = fused.probabilities(array)[0], plain.probabilities(array)[0]
        assert list(np.argsort(a)[::-1][:5]) == list(np.argsort(b)[::-1][:5]), path.name
        assert np.allclose(a, b, atol=2e-3), path.name


def test_the_default_verdict_on_the_devset_finds_cats_and_no_dog_or_other_animal() -> None:
    clf = model_mod.load("mobilenetv2-imagenet")
    called = {}
    for kind in ("cats", "dogs", "others"):
        paths = sorted((PHOTOS / "devset" / kind).iterdir())
        preds = clf.predict([p.read_bytes() for p in paths])
        called[kind] = [p.name for p, pred in zip(paths, preds, strict=True) if pred.is_cat]
    assert len(called["cats"]) >= 24, called["cats"]
    assert called["dogs"] == [] and called["others"] == []


@pytest.mark.parametrize("mode", ["I;16", "L", "LA", "P", "CMYK", "RGBA"])
def test_chelsea_is_a_cat_in_every_colour_mode(mode: str) -> None:
    import io

    from PIL import Image

    chelsea = Image.open(PHOTOS / "skimage_chelsea.png").convert("RGB")
    if mode == "I;16":  # 16-bit greyscale: once decoded as pure white
        img = Image.fromarray(np.asarray(chelsea.convert("L"), np.uint16) * 257)
    else:
        img = chelsea.convert(mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG" if mode == "CMYK" else "PNG")
    (pred,) = model_mod.load("mobilenetv2-imagenet").predict([buf.getvalue()])
    assert pred.is_cat, (mode, pred.cat_probability, pred.top_k[0])
