"""Small real images for tests, encoded in memory."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def noise_image(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 64)) -> bytes:
    return encode(noise_image(seed, size))


def sixteen_bit_png() -> bytes:
    """A 64x64 16-bit grayscale PNG with a full ramp of values (mode ``I;16``)."""
    array = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    return encode(Image.fromarray(array))


def exif_rotated_jpeg() -> bytes:
    """A 40x20 JPEG whose EXIF orientation (6) says to show it rotated: 20x40 on screen."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(noise_image(3, (40, 20)), "JPEG", exif=exif.tobytes())


def transparent_png() -> bytes:
    """A 32x32 RGBA PNG: left half opaque white, right half fully transparent red."""
    pixels = np.zeros((32, 32, 4), dtype=np.uint8)
    pixels[:, :16] = (255, 255, 255, 255)
    pixels[:, 16:] = (255, 0, 0, 0)
    return encode(Image.fromarray(pixels, mode="RGBA"))


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header claims huge dimensions (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
