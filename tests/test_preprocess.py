"""Decoding: every common format, EXIF orientation, alpha and palettes, and bad input."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dlworkshop.classifier.preprocess import BadImage, decode, resize_crop, to_array


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


def huge_png(side: int = 30000) -> bytes:
    """A tiny file whose header claims side x side pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + side * 3) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text and not a picture", "not an image"),
        (encode(gradient(), "JPEG")[:300], "damaged or truncated"),
        (huge_png(), "megapixels"),
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
