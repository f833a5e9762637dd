"""Image decoding: refusals carry a status and a message; odd but valid images are converted."""

from __future__ import annotations

import io

import pytest

from service.errors import ServiceError
from service.http.errors import status_of
from service.http.imaging import ImageLimits, decode_image, decode_upload
from tests.support.dicom import bare_data_set, shipped_bytes, unsupported_syntax
from tests.support.images import (
    bomb_png,
    encode,
    exif_rotated_jpeg,
    noise_image,
    png_bytes,
    sixteen_bit_png,
)

LIMITS = ImageLimits(max_bytes=2_000_000, max_pixels=4_000_000)


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b"this is plainly text, not an image", 400, "not a readable image"),
        (png_bytes(1)[:200], 400, "truncated"),
        (bomb_png(), 413, "limit"),
        (b"\x00" * 2_000_001, 413, "limit"),
        (b"GIF89a" + b"<?php echo 1; ?>" * 10, 400, ""),
    ],
    ids=["zero-byte", "text", "truncated", "bomb", "too-many-bytes", "polyglot"],
)
def test_bad_images_are_refused_with_a_clear_status(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ServiceError) as caught:
        decode_image(data, LIMITS)
    assert status_of(caught.value) == status
    assert words in caught.value.message
    assert len(caught.value.message) > 20


def _animated() -> bytes:
    frames = [noise_image(i, (32, 32)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (encode(noise_image(1).convert("P")), (64, 64)),
        (encode(noise_image(1).convert("CMYK"), "JPEG"), (64, 64)),
        (encode(noise_image(1).convert("LA")), (64, 64)),
        (sixteen_bit_png(), (64, 64)),
        (_animated(), (32, 32)),
        (exif_rotated_jpeg(), (20, 40)),
        (encode(noise_image(1), "WEBP"), (64, 64)),
    ],
    ids=["palette", "cmyk", "gray-alpha", "16-bit", "animated", "exif-rotated", "webp"],
)
def test_valid_odd_images_are_converted_to_rgb(data: bytes, size: tuple[int, int]) -> None:
    image = decode_image(data, LIMITS)
    assert image.mode == "RGB"
    assert image.size == size


def test_sixteen_bit_keeps_its_contrast() -> None:
    image = decode_image(sixteen_bit_png(), LIMITS)
    low, high = image.convert("L").getextrema()
    assert high - low > 200


@pytest.mark.parametrize(
    ("data", "frame", "status", "words"),
    [
        (shipped_bytes("MR_truncated.dcm"), None, 400, "truncated"),
        (shipped_bytes("rtplan.dcm"), None, 422, "no pixel data"),
        (shipped_bytes("waveform_ecg.dcm"), None, 422, "no pixel data"),
        (unsupported_syntax(), None, 415, "MPEG2"),
        (shipped_bytes("SC_rgb_rle_2frame.dcm"), 5, 422, "numbered 0 to 1"),
        (shipped_bytes("JPEG2000.dcm"), None, 413, "limit"),
        (png_bytes(1), 3, 422, "only DICOM"),
        (shipped_bytes("ExplVR_LitEndNoMeta.dcm"), None, 422, "no pixel data"),
    ],
    ids=[
        "truncated",
        "rt-plan",
        "waveform",
        "mpeg2",
        "no-such-frame",
        "too-many-pixels",
        "png",
        "bare-rt-plan",
    ],
)
def test_dicom_refusals_map_to_statuses(
    data: bytes, frame: int | None, status: int, words: str
) -> None:
    limits = ImageLimits(max_bytes=2_000_000, max_pixels=200_000)
    with pytest.raises(ServiceError) as caught:
        decode_upload(data, limits, frame=frame)
    assert status_of(caught.value) == status
    assert words in caught.value.message


def test_dicom_upload_decodes_with_its_modality_and_frame() -> None:
    decoded = decode_upload(shipped_bytes("examples_ybr_color.dcm"), LIMITS, frame=3)
    summary = (decoded.format, decoded.modality, decoded.frames, decoded.frame)
    assert summary == ("dicom", "US", 30, 3)
    assert decoded.image.mode == "RGB" and decoded.image.size == (320, 240)
    bare = decode_upload(bare_data_set("CT_small.dcm"), LIMITS)
    assert (bare.format, bare.modality, bare.frames) == ("dicom", "CT", 1)
    png = decode_upload(png_bytes(2), LIMITS)
    assert (png.format, png.modality, png.frames) == ("png", "unknown", 1)
