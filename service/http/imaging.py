"""Decode and check an uploaded image; every refusal is an ImageRejected with an HTTP status.

``decode_upload`` is the one entry point for uploaded bytes (multipart, base64, data URIs): PNG,
JPEG, BMP, TIFF, WebP through Pillow, DICOM Part 10 through ``audits.data.dicom`` (rendered the
DICOM way; its refusals map to 400 corrupt/truncated, 413 too many pixels, 415 transfer syntax
without a decoder, 422 no pixel data or no such frame, except 400 for a data set that names no
SOP class: ``service.http.dicom_checks``).
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
from service.http.dicom_checks import names_no_sop_class


class ImageRejected(ValueError):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


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


DICOM_STATUS: tuple[tuple[type[DicomError], int], ...] = (
    (DicomCorrupt, 400),
    (DicomTooLarge, 413),
    (DicomUnsupportedSyntax, 415),
    (DicomNoPixelData, 422),
    (DicomFrameOutOfRange, 422),
)


NOT_DICOM = (
    "the file starts like DICOM but holds no readable DICOM object (its data set names no SOP "
    "class); it is truncated or corrupt — export it again"
)


def dicom_status(error: DicomError) -> int:
    for kind, status in DICOM_STATUS:
        if isinstance(error, kind):
            return status
    return 400


def decode_upload(data: bytes, limits: ImageLimits, *, frame: int | None = None) -> DecodedImage:
    """Uploaded bytes to an RGB image and its metadata; raises ``ImageRejected`` (4xx) only.

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
                raise ImageRejected(400, NOT_DICOM) from None
            raise ImageRejected(dicom_status(exc), str(exc)) from None
        except DicomError as exc:
            raise ImageRejected(dicom_status(exc), str(exc)) from None
        _check_shape(rendered.image.width, rendered.image.height)
        return DecodedImage(
            image=rendered.image,
            format="dicom",
            modality=rendered.modality,
            frames=rendered.frames,
            frame=rendered.frame,
        )
    if frame not in (None, 0):
        raise ImageRejected(
            422, f"frame {frame} was requested, but only DICOM uploads have several frames"
        )
    image, kind = _decode_pillow(data, limits)
    return DecodedImage(image=image, format=kind, modality=UNKNOWN_MODALITY, frames=1, frame=0)


def decode_image(data: bytes, limits: ImageLimits) -> Image.Image:
    """The RGB image of an upload (DICOM: its middle frame)."""
    return decode_upload(data, limits).image


def _check_bytes(data: bytes, limits: ImageLimits) -> None:
    if not data:
        raise ImageRejected(400, "the image is empty (0 bytes); upload a PNG, JPEG or DICOM file")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            413, f"the image is {len(data)} bytes; the limit is {limits.max_bytes} bytes"
        )


def _check_shape(width: int, height: int) -> None:
    if min(width, height) < 1:
        raise ImageRejected(400, "the image has no pixels")
    if max(width, height) / min(width, height) > 200:
        raise ImageRejected(422, f"aspect ratio {width}x{height} is too extreme (max 200:1)")


def _decode_pillow(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str]:
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
            400,
            "the upload is not a readable image; send a PNG, JPEG, BMP, TIFF, WebP or DICOM "
            "Part 10 file",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(400, f"the image is truncated or corrupt: {exc}") from exc
    _check_shape(width, height)
    return to_rgb(image), (image.format or "unknown").lower()
