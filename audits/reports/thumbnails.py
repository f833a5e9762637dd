"""Small thumbnails of item images, embedded in ``report.html`` as base64 JPEG data URIs.

Images are read the way the model saw them (``audits.data.images.load_image``, so DICOM is
rendered) and shrunk to fit ``THUMB_PX`` pixels; a full-size image is never embedded. JPEG
encoding is deterministic, so the report stays byte-identical for the same inputs.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from audits.data.images import load_image

THUMB_PX = 96
JPEG_QUALITY = 70


def thumbnail_data_uri(path: str | Path, size: int = THUMB_PX) -> str | None:
    """``data:image/jpeg;base64,...`` of the image shrunk to fit ``size`` x ``size``; None when
    the file cannot be read."""
    try:
        image = load_image(path)
    except Exception:  # a thumbnail is optional; the report must still be written
        return None
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class ThumbnailCache:
    """One thumbnail per image path (several questions often share an image)."""

    def __init__(self, size: int = THUMB_PX) -> None:
        self.size = size
        self._uris: dict[str, str | None] = {}

    def get(self, path: str | Path) -> str | None:
        key = str(path)
        if key not in self._uris:
            self._uris[key] = thumbnail_data_uri(key, self.size)
        return self._uris[key]
