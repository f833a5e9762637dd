"""Keyed identifiers: image ids and answer fingerprints are HMACs, never plain hashes."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from PIL import Image


def image_id(image_bytes: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), image_bytes, hashlib.sha256).hexdigest()


def pixels_id(image: Image.Image, secret: str) -> str:
    """The id of a decoded image: the keyed HMAC of its pixels (mode, size, pixel bytes), so the
    same picture in another container, or a DICOM file with edited headers, has one id."""
    header = f"{image.mode}:{image.width}x{image.height}:".encode()
    return image_id(header + image.tobytes(), secret)


def answer_fingerprint(normalized_answer: str, secret: str) -> str:
    """Lets feedback be checked against stored answers without storing answer text."""
    digest = hmac.new(secret.encode(), b"answer:" + normalized_answer.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def new_request_id() -> str:
    return uuid.uuid4().hex


def sample_decision(request_id: str, rate: float) -> bool:
    """Deterministic per request id, so every replica makes the same choice."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    bucket = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")
    return bucket / 2**64 < rate
