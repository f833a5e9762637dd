"""Decode and check an uploaded image; every refusal is an ImageRejected with an HTTP status.

Valid but unusual images (palette, CMYK, 16-bit, animated, EXIF-rotated) are converted to RGB,
not refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class ImageRejected(ValueError):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise ImageRejected(400, "the image is empty (0 bytes); upload a PNG or JPEG file")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            413, f"the image is {len(data)} bytes; the limit is {limits.max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageRejected(
                    413,
                    f"the image declares {width}x{height} pixels; the limit is "
                    f"{limits.max_pixels} pixels — downscale it before sending",
                )
            if getattr(image, "is_animated", False):
                image.seek(0)
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(413, f"the image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            400, "the upload is not a readable image; send a PNG, JPEG, BMP, TIFF or WebP file"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(400, f"the image is truncated or corrupt: {exc}") from exc
    if min(width, height) < 1:
        raise ImageRejected(400, "the image has no pixels")
    if max(width, height) / min(width, height) > 200:
        raise ImageRejected(422, f"aspect ratio {width}x{height} is too extreme (max 200:1)")
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255 if high > low else np.zeros_like(array)
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (0, 0, 0))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
