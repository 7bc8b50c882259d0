"""Decoding: every common format, EXIF orientation, alpha and palettes, and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import huge_png
from PIL import Image

from dlworkshop.classifier.preprocess import (
    BadImage,
    ImageTooLarge,
    decode,
    probe,
    resize_crop,
    to_array,
)


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 2] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    return Image.fromarray(arr)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF"])
def test_formats_decode_to_rgb(fmt: str) -> None:
    img = decode(encode(gradient(), fmt))
    assert img.mode == "RGB" and img.size == (64, 48)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    img = decode(encode(gradient(), "JPEG", exif=exif.tobytes()))
    assert img.size == (48, 64)


def test_grayscale_palette_and_alpha_become_rgb() -> None:
    assert decode(encode(gradient().convert("L"), "PNG")).mode == "RGB"
    assert decode(encode(gradient().convert("P"), "PNG")).mode == "RGB"
    rgba = gradient().convert("RGBA")
    rgba.putalpha(0)  # fully transparent: shown as white
    out = decode(encode(rgba, "PNG"))
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_uses_the_first_frame() -> None:
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    data = encode(red, "GIF", save_all=True, append_images=[blue])
    assert decode(data).getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text and not a picture", "not an image"),
        (encode(gradient(), "JPEG")[:300], "damaged or truncated"),
        (huge_png(), "megapixels"),
        (huge_png(64000, 1), "no side may be longer"),
        (huge_png(20001, 1), "no side may be longer"),
    ],
)
def test_bad_input_is_explained(data: bytes, message: str) -> None:
    with pytest.raises(BadImage, match=message):
        decode(data)


def test_resize_crop_and_normalise() -> None:
    img = resize_crop(gradient(640, 480), 224, 0.875)
    assert img.size == (224, 224)
    small = resize_crop(gradient(20, 10), 32)  # upscaling works too
    assert small.size == (32, 32)
    arr = to_array(img, 255.0, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert arr.shape == (3, 224, 224) and arr.dtype == np.float32
    assert arr.min() >= -1.0 and arr.max() <= 1.0


def test_sizes_are_refused_from_the_header_alone() -> None:
    for data in (huge_png(64000, 1), huge_png()):
        with pytest.raises(ImageTooLarge):
            probe(data)
    assert probe(encode(gradient(), "PNG")) == (64, 48)


def test_a_long_thin_image_is_cheap() -> None:
    # 20000x1 is within the limits; resized straight to the crop it costs no memory.
    img = resize_crop(decode(encode(Image.new("RGB", (20000, 1), (9, 9, 9)), "PNG")), 224, 0.875)
    assert img.size == (224, 224) and img.getpixel((100, 100)) == (9, 9, 9)


def test_sixteen_bit_and_float_greyscale_keep_their_tones() -> None:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)[None, :].repeat(8, 0)
    grey16 = Image.fromarray(ramp)  # mode I;16, as a 16-bit PNG opens
    out = decode(encode(grey16, "PNG"))
    values = [out.getpixel((x, 4))[0] for x in (0, 32, 63)]
    assert values[0] == 0 and 120 <= values[1] <= 135 and values[2] == 255
    floats = Image.fromarray((ramp / 65535).astype(np.float32))  # mode F
    assert decode(encode(floats, "TIFF")).getpixel((63, 4)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["LA", "P", "CMYK", "1", "I", "RGBA", "L"])
def test_every_mode_decodes_to_rgb(mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I" else "PNG")
    out = decode(encode(gradient().convert(mode), fmt))
    assert out.mode == "RGB" and out.size == (64, 48)
