"""Reading a manifest's image files: ordinary formats through Pillow, DICOM through
``audits.data.dicom`` (so a manifest may point at ``.dcm`` files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from audits.data.dicom import DicomError, is_dicom_file, render_dicom


def load_image(path: str | Path) -> Image.Image:
    """The image a model sees: RGB; DICOM rendered the DICOM way (middle frame)."""
    if is_dicom_file(str(path)):
        return render_dicom(Path(path).read_bytes()).image
    with Image.open(path) as image:
        return image.convert("RGB")


def image_problem(path: str | Path) -> str | None:
    """Why an image file cannot be audited (missing, unreadable, not an image), None when it
    can: Pillow checks the file's structure without decoding it; DICOM is rendered."""
    path = Path(path)
    if not path.is_file():
        return "no such file"
    try:
        if is_dicom_file(str(path)):
            render_dicom(path.read_bytes())
            return None
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, DicomError, SyntaxError, ValueError) as exc:
        return f"not a readable image ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def image_content_key(path: str | Path) -> str:
    """SHA-256 identifying an image's content: of the file's bytes, or for DICOM of the rendered
    pixels (two exports of one image with different headers are the same image)."""
    if is_dicom_file(str(path)):
        return pixels_sha256(load_image(path))
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pixels_sha256(image: Image.Image) -> str:
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
