"""Decode and check an uploaded image; every refusal is a ``service.errors.ServiceError``.

``decode_upload`` is the one entry point for uploaded bytes (multipart, base64, data URIs): PNG,
JPEG, BMP, TIFF, WebP through Pillow, DICOM Part 10 through ``audits.data.dicom`` (rendered the
DICOM way; its refusals are malformed (corrupt, truncated), too large (too many pixels),
unsupported (a transfer syntax without a decoder) or invalid (no pixel data, no such frame),
except malformed for a data set that names no SOP class: ``service.http.dicom_checks``).
Valid but unusual images (palette, CMYK, 16-bit, animated, EXIF-rotated) are converted to RGB
by ``audits.data.images.to_rgb`` (the offline loader's conversion too), not refused. Nothing
of a DICOM header is returned but the modality label and the frame count.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image, UnidentifiedImageError

from audits.data.dicom import (
    DEFAULT_WINDOWS,
    UNKNOWN_MODALITY,
    DicomCorrupt,
    DicomError,
    DicomFrameOutOfRange,
    DicomNoPixelData,
    DicomTooLarge,
    DicomUnsupportedSyntax,
    Window,
    is_dicom,
    render_dicom,
)
from audits.data.images import to_rgb
from service.errors import (
    InvalidInput,
    MalformedInput,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
)
from service.http.dicom_checks import names_no_sop_class


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    dicom_windows: Mapping[str, Window] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    """Default VOI window per modality for DICOM frames whose header has none."""


@dataclass(frozen=True)
class DecodedImage:
    """An upload as the model will see it, with the little the service keeps about it."""

    image: Image.Image
    format: str
    """``dicom`` or Pillow's format name in lower case (``png``, ``jpeg``, ...)."""
    modality: str
    """The DICOM header's modality label (``audits.data.dicom.MODALITY_LABELS``); ``unknown``
    for other formats."""
    frames: int
    frame: int


DICOM_REFUSALS: tuple[tuple[type[DicomError], type[ServiceError]], ...] = (
    (DicomCorrupt, MalformedInput),
    (DicomTooLarge, PayloadTooLarge),
    (DicomUnsupportedSyntax, UnsupportedMediaType),
    (DicomNoPixelData, InvalidInput),
    (DicomFrameOutOfRange, InvalidInput),
)


NOT_DICOM = (
    "the file starts like DICOM but holds no readable DICOM object (its data set names no SOP "
    "class); it is truncated or corrupt — export it again"
)


def dicom_refusal(error: DicomError) -> ServiceError:
    for kind, refusal in DICOM_REFUSALS:
        if isinstance(error, kind):
            return refusal(str(error))
    return MalformedInput(str(error))


def decode_upload(data: bytes, limits: ImageLimits, *, frame: int | None = None) -> DecodedImage:
    """Uploaded bytes to an RGB image and its metadata; raises ``ServiceError`` refusals only.

    ``frame`` picks a frame of a multi-frame DICOM object (default: the middle one).
    """
    _check_bytes(data, limits)
    if is_dicom(data):
        try:
            rendered = render_dicom(
                data, frame=frame, max_pixels=limits.max_pixels, windows=limits.dicom_windows
            )
        except DicomNoPixelData as exc:
            if names_no_sop_class(data):  # e.g. a preamble, DICM and garbage
                raise MalformedInput(NOT_DICOM) from None
            raise dicom_refusal(exc) from None
        except DicomError as exc:
            raise dicom_refusal(exc) from None
        _check_shape(rendered.image.width, rendered.image.height)
        return DecodedImage(
            image=rendered.image,
            format="dicom",
            modality=rendered.modality,
            frames=rendered.frames,
            frame=rendered.frame,
        )
    if frame not in (None, 0):
        raise InvalidInput(
            f"frame {frame} was requested, but only DICOM uploads have several frames"
        )
    image, kind = _decode_pillow(data, limits)
    return DecodedImage(image=image, format=kind, modality=UNKNOWN_MODALITY, frames=1, frame=0)


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """The RGB image of an upload (DICOM: its middle frame)."""
    return decode_upload(data, limits).image


def _check_bytes(data: bytes, limits: ImageLimits) -> None:
    if not data:
        raise MalformedInput("the image is empty (0 bytes); upload a PNG, JPEG or DICOM file")
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the image is {len(data)} bytes; the limit is {limits.max_bytes} bytes"
        )


def _check_shape(width: int, height: int) -> None:
    if min(width, height) < 1:
        raise MalformedInput("the image has no pixels")
    if max(width, height) / min(width, height) > 200:
        raise InvalidInput(f"aspect ratio {width}x{height} is too extreme (max 200:1)")


def _decode_pillow(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_pixels:
                raise PayloadTooLarge(
                    f"the image declares {width}x{height} pixels; the limit is "
                    f"{limits.max_pixels} pixels — downscale it before sending",
                )
            if getattr(image, "is_animated", False):
                image.seek(0)
            image.load()
    except ServiceError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"the image is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise MalformedInput(
            "the upload is not a readable image; send a PNG, JPEG, BMP, TIFF, WebP or DICOM "
            "Part 10 file",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MalformedInput(f"the image is truncated or corrupt: {exc}") from exc
    _check_shape(width, height)
    return to_rgb(image), (image.format or "unknown").lower()
