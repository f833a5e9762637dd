"""The minor findings of the second probe (issue 28): questions of invisible or filler code
points, a DICOM preamble + ``DICM`` + garbage, and DICOM pixel data one byte short."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from service.errors import InvalidInput, ServiceError
from service.http.errors import status_of
from service.http.imaging import ImageLimits, decode_upload
from service.requests import RequestReader, has_content
from service.settings import Settings
from tests.support.dicom import grayscale, shipped_bytes

LIMITS = ImageLimits(20_000_000, 40_000_000)
FILLERS = {
    "combining grapheme joiner": "\u034f",
    "variation selectors": "\ufe0e\ufe0f",
    "hangul filler": "\u3164",
    "hangul choseong + jungseong fillers": "\u115f\u1160",
    "halfwidth hangul filler": "\uffa0",
    "braille pattern blank": "\u2800",
    "object replacement character": "\ufffc",
    "mixed with spaces and a question mark": " \u3164 \u2800\u034f ? \ufffc",
}


def check_question(question: str) -> str:
    return RequestReader(Settings()).check_question(question)


@pytest.mark.parametrize("question", FILLERS.values(), ids=FILLERS.keys())
def test_questions_of_only_filler_or_default_ignorable_code_points_are_refused(
    question: str,
) -> None:
    assert not has_content(question * 3)
    with pytest.raises(InvalidInput) as refused:
        check_question(question * 3)
    assert status_of(refused.value) == 422
    assert "the question is empty" in refused.value.message


@pytest.mark.parametrize(
    "question",
    [
        "Is there a lesion?",
        "病变在左肺吗？",
        "هل يوجد ورم؟",
        "병변이 있습니까?",  # Hangul syllables are letters; only the fillers are invisible
        "Ist das ein Befund\u034f?",
        "T2?",
        "🫁 lesion?",
    ],
)
def test_questions_in_any_script_pass(question: str) -> None:
    assert check_question(question) == question


def test_a_dicom_preamble_and_dicm_followed_by_garbage_is_a_corrupt_file() -> None:
    garbage = np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes()
    for tail in (garbage, b"hello, this is not DICOM at all" * 10):
        with pytest.raises(ServiceError) as refused:
            decode_upload(b"\0" * 128 + b"DICM" + tail, LIMITS)
        assert status_of(refused.value) == 400
        assert "no readable DICOM object" in refused.value.message
    with pytest.raises(ServiceError) as plan:  # a real object without pixel data stays 422
        decode_upload(shipped_bytes("rtplan.dcm"), LIMITS)
    assert status_of(plan.value) == 422


def _pixel_element(data: bytes) -> tuple[int, int]:
    """Where the (7FE0,0010) explicit-VR element starts and its declared length."""
    at = data.rindex(b"\xe0\x7f\x10\x00")
    return at, struct.unpack("<I", data[at + 8 : at + 12])[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_dicom_pixel_data_one_byte_short_is_refused(dtype: type) -> None:
    data = grayscale(np.arange(64 * 64).astype(dtype).reshape(64, 64))
    at, length = _pixel_element(data)
    value = at + 12
    cut = data[: value + length - 1]  # the file ends one byte into its pixel data
    declared = data[: at + 8] + struct.pack("<I", length - 1) + data[value : value + length - 1]
    for short in (cut, declared):
        with pytest.raises(ServiceError) as refused:
            decode_upload(short, LIMITS)
        assert status_of(refused.value) == 400
        assert "truncated or corrupt" in refused.value.message
