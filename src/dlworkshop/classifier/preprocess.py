"""Decode any common image safely and shape it the way each model expects."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# A 64-megapixel photo is bigger than any phone takes; beyond that it is a decompression bomb.
MAX_PIXELS = 64_000_000
# No camera makes a side longer than this; a 64000x1 strip is an attack, not a photo.
MAX_SIDE = 20_000
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


class BadImage(ValueError):
    """The input is not an image this service can classify; the message says why."""


class ImageTooLarge(BadImage):
    """The image's header promises more pixels than the service will decode."""


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse sizes that would cost seconds and gigabytes, before any pixel is decoded."""
    if width < 1 or height < 1:
        raise BadImage(f"The image is {width}x{height}: it has no pixels.")
    if max(width, height) > MAX_SIDE:
        raise ImageTooLarge(
            f"The image is {width}x{height}; no side may be longer than {MAX_SIDE} pixels."
        )
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels."
        )


def probe(data: bytes) -> tuple[int, int]:
    """(width, height) from the header alone, checked against the limits (raises BadImage)."""
    img = _open(data)
    check_size(*img.size)
    return img.size


def _bomb(exc: Exception) -> ImageTooLarge:
    """Pillow's own guard fired while reading the header (it says how many pixels)."""
    return ImageTooLarge(f"The image is too large to decode safely; the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels ({exc})")  # fmt: skip


def _open(data: bytes) -> Image.Image:
    if not data:
        raise BadImage("The image is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc) from None
    except UnidentifiedImageError:
        raise BadImage(
            "This is not an image in a format we read (JPEG, PNG, BMP, GIF, WebP, TIFF)."
        ) from None
    except Exception as exc:  # hostile headers: whatever the parser raises, the input is at fault
        raise BadImage(f"The image is damaged or truncated: {exc}") from None


def decode(data: bytes, max_pixels: int = MAX_PIXELS, short_side: int | None = None) -> Image.Image:
    """Bytes to an upright RGB image: first GIF frame, EXIF orientation, no alpha or palette.

    With `short_side`, a JPEG much larger than needed is decoded at 1/2, 1/4 or 1/8 scale
    (libjpeg's DCT scaling), never below `short_side` on its shorter side.
    """
    img = _open(data)
    check_size(*img.size, max_pixels=max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if short_side and img.format == "JPEG":
                img.draft(None, (short_side, short_side))
            img.seek(0)  # animated GIF/WebP: the first frame
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(exc) from None
    except Exception as exc:
        # Decoders meet hostile bytes here: whatever they raise, the input is at fault.
        raise BadImage(f"The image is damaged or truncated: {exc}") from None
    img = ImageOps.exif_transpose(img) or img
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB: high bit depths scaled (not clipped), transparency on white."""
    if img.mode == "RGB":
        return img
    if img.mode in SIXTEEN_BIT or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        else:  # 16-bit samples, whether Pillow calls the mode I;16 or I
            top = 65535.0 if img.mode in SIXTEEN_BIT or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    try:
        if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
            img.mode == "P" and "transparency" in img.info
        ):
            # Transparent pixels become white, as a browser shows them on a page.
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise BadImage(f"The image's colour mode {img.mode} cannot be read: {exc}") from None


def crop_box(
    width: int, height: int, size: int, crop_fraction: float
) -> tuple[float, float, float, float]:
    """The centred square of the source that ends up as the size x size crop."""
    # The short side is scaled to round(size / crop_fraction); `size` of it is kept.
    side = min(width, height) * size / round(size / crop_fraction)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def resize_crop(img: Image.Image, size: int, crop_fraction: float = 1.0) -> Image.Image:
    """The centre crop of an image whose short side is size/crop_fraction, as size x size.

    Resized straight from the source box to the crop in one pass (no full-size
    intermediate). Downscaling uses area interpolation (PIL's BOX): with bilinear, the
    CIFAR models call many dogs cats.
    """
    box = crop_box(*img.size, size, crop_fraction)
    shrinking = box[2] - box[0] > size
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return img.resize((size, size), method, box=box)


def to_array(img: Image.Image, scale: float, mean, std) -> np.ndarray:
    """An RGB image as a normalised float32 CHW array: (x/scale - mean) / std."""
    factor = np.float32(1.0) / (np.float32(scale) * np.asarray(std, np.float32))
    offset = np.asarray(mean, np.float32) / np.asarray(std, np.float32)
    arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32, order="C")
    arr *= factor[:, None, None]
    arr -= offset[:, None, None]
    return arr
