"""Decode any common image safely and shape it the way each model expects."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A 64-megapixel photo is bigger than any phone takes; beyond that it is a decompression bomb.
MAX_PIXELS = 64_000_000
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")


class BadImage(ValueError):
    """The input is not an image this service can classify; the message says why."""


def decode(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Bytes to an upright RGB image: first GIF frame, EXIF orientation, no alpha or palette."""
    if not data:
        raise BadImage("The image is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(
                    f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
                    f"the limit is {max_pixels / 1e6:.0f} megapixels."
                )
            img.seek(0)  # animated GIF/WebP: the first frame
            img.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fired while reading the header (it says how many pixels).
        raise BadImage(
            f"The image is too large to decode safely; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels ({exc})"
        ) from None
    except UnidentifiedImageError:
        raise BadImage(
            "This is not an image in a format we read (JPEG, PNG, BMP, GIF, WebP)."
        ) from None
    except Exception as exc:
        # Decoders meet hostile bytes here: whatever they raise, the input is at fault.
        raise BadImage(f"The image is damaged or truncated: {exc}") from None
    img = ImageOps.exif_transpose(img) or img
    if img.mode != "RGB":
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            # Transparent pixels become white, as a browser shows them on a page.
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        img = img.convert("RGB")
    return img


def resize_crop(img: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    """Resize the short side to size/crop_fraction, then centre-crop size x size.

    Downscaling uses area interpolation (PIL's BOX): with bilinear, the CIFAR models
    call many dogs cats.
    """
    short = round(size / crop_fraction)
    width, height = img.size
    scale = short / min(width, height)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    img = img.resize(new, method)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    return img.crop((left, top, left + size, top + size))


def to_array(img: Image.Image, scale: float, mean, std) -> np.ndarray:
    """An RGB image as a normalised float32 CHW array."""
    arr = np.asarray(img, dtype=np.float32) / np.float32(scale)
    arr = (arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return arr.transpose(2, 0, 1)
