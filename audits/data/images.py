"""Reading a manifest's image files: ordinary formats through Pillow, DICOM through
``audits.data.dicom`` (so a manifest may point at ``.dcm`` files). ``to_rgb`` is the one
conversion to the RGB image a model sees, for files here and for the service's uploads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from audits.data.dicom import DicomError, is_dicom_file, render_dicom


def load_image(path: str | Path) -> Image.Image:
    """The image a model sees: RGB (``to_rgb``); DICOM rendered the DICOM way (middle frame)."""
    if is_dicom_file(str(path)):
        return render_dicom(Path(path).read_bytes()).image
    with Image.open(path) as image:
        return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB as the model sees it: EXIF orientation applied, 16-bit and float images stretched
    from their own minimum to maximum, transparent pixels over black; palette, CMYK and gray
    images converted; an animation's current frame."""
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
