"""Hostile input through `bentoml serve`: each gets a clear 4xx or is handled, never a 5xx.

Complements tests/integration/test_service_http.py (which covers the basic refusals). Every case
is followed by a normal request that must answer 200, and the module checks at the end that the
worker process never changed: no case killed it quietly.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator

import httpx
import numpy as np
import psutil
import pytest

from tests.conftest import DEMO_API_KEY
from tests.support.images import (
    bomb_png,
    encode,
    exif_rotated_jpeg,
    noise_image,
    png_bytes,
    sixteen_bit_png,
)
from tests.support.servers import ServedService

GOOD = png_bytes(40)
BOUNDARY = "hostile-boundary-7f3a"
# the demo service: 300 kB images, so the body cap is 4/3 * 300 kB + 64 kB
BODY_LIMIT = 300_000 * 4 // 3 + 4 + 64 * 1024


def worker_pids(served: ServedService) -> set[int]:
    root = psutil.Process(served.process.pid)
    return {
        child.pid
        for child in root.children(recursive=True)
        if any("worker.service" in part for part in child.cmdline())
    }


@pytest.fixture(scope="module")
def served(demo_service: ServedService) -> Iterator[ServedService]:
    before = worker_pids(demo_service)
    assert before, "no BentoML worker process found"
    yield demo_service
    assert worker_pids(demo_service) == before, "a worker died and was replaced during the module"


def predict_multipart(url: str, image: bytes, question: str = "Is there a lesion?", **kw):
    return httpx.post(
        f"{url}/predict",
        files={"image": ("scan.png", image, "application/octet-stream")},
        data={"question": question},
        timeout=60,
        **kw,
    )


def post_json(
    url: str, path: str, payload: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    """json.dumps escapes non-ASCII (\\udXXX), so even unpaired surrogates can be sent."""
    return httpx.post(
        f"{url}{path}",
        content=json.dumps(payload).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        timeout=60,
    )


def predict_json(url: str, payload: object) -> httpx.Response:
    return post_json(url, "/predict", payload)


def raw_multipart(question: bytes, image: bytes) -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="question"\r\n\r\n'.encode()
    part = (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; '
        'filename="scan.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    return head + question + part + image + f"\r\n--{BOUNDARY}--\r\n".encode()


MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def assert_still_serving(url: str) -> None:
    after = predict_multipart(url, GOOD)
    assert after.status_code == 200, f"the worker must serve the next request: {after.text}"


def assert_clear_refusal(response: httpx.Response, status: int, words: str = "") -> None:
    assert response.status_code == status, response.text[:500]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 10, detail
    assert words.lower() in detail.lower(), detail


# --- images ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _corrupt_jpeg() -> bytes:
    rng = np.random.default_rng(5)
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.integers(0, 255, 3000, np.uint8).tobytes()


def _truncated_jpeg() -> bytes:
    data = encode(noise_image(6, (96, 96)), "JPEG", quality=90)
    return data[: len(data) * 2 // 3]


REFUSED_IMAGES = {
    "zero-byte": (b"", 400, "empty"),
    "corrupt-jpeg": (_corrupt_jpeg(), 400, ""),
    "truncated-jpeg": (_truncated_jpeg(), 400, "truncated"),
    "broken-polyglot-gif-php": (b"GIF89a" + b"<?php system($_GET['c']); ?>" * 20, 400, ""),
    "html-with-png-magic": (b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>", 400, ""),
    "bomb-25-megapixel-header": (bomb_png(5000, 5000), 413, "limit"),
    "bomb-10-gigapixel-header": (bomb_png(100_000, 100_000), 413, ""),
}


@pytest.mark.parametrize("case", list(REFUSED_IMAGES), ids=list(REFUSED_IMAGES))
def test_bad_images_are_refused_with_a_clear_4xx(served: ServedService, case: str) -> None:
    data, status, words = REFUSED_IMAGES[case]
    assert_clear_refusal(predict_multipart(served.url, data), status, words)
    if data:  # the same bytes as base64 JSON take the same path
        payload = {"image_base64": _b64(data), "question": "Is there a lesion?"}
        assert_clear_refusal(predict_json(served.url, payload), status, words)
    assert_still_serving(served.url)


def _animated_gif() -> bytes:
    frames = [noise_image(i, (48, 48)) for i in range(4)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], loop=0)
    return buffer.getvalue()


def _palette_with_transparency() -> bytes:
    image = noise_image(8).convert("P")
    return encode(image, transparency=0)


def _png_with_appended_zip() -> bytes:
    """A valid PNG with an archive glued on (a GIFAR-style polyglot): the image part is decoded."""
    zip_tail = b"PK\x03\x04" + b"\x00" * 26 + b"payload.sh" + b"#!/bin/sh\nrm -rf /\n"
    return png_bytes(41) + zip_tail


CONVERTED_IMAGES = {
    "animated-gif": _animated_gif(),
    "16-bit-png": sixteen_bit_png(),
    "cmyk-jpeg": encode(noise_image(9).convert("CMYK"), "JPEG"),
    "palette-png": encode(noise_image(10).convert("P")),
    "palette-png-transparent": _palette_with_transparency(),
    "exif-rotated-jpeg": exif_rotated_jpeg(),
    "gray-alpha-png": encode(noise_image(11).convert("LA")),
    "1-bit-png": encode(noise_image(12).convert("1")),
    "webp": encode(noise_image(13), "WEBP"),
    "png-with-appended-zip": _png_with_appended_zip(),
}


@pytest.mark.parametrize("case", list(CONVERTED_IMAGES), ids=list(CONVERTED_IMAGES))
def test_valid_odd_images_are_answered_not_refused(served: ServedService, case: str) -> None:
    response = predict_multipart(served.url, CONVERTED_IMAGES[case])
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["raw_output"], str) and body["request_id"]


# --- content types and body sizes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("text/plain", b"Is there a lesion?", 415),
        ("application/x-www-form-urlencoded", b"question=Is+there+a+lesion%3F", 415),
        (None, GOOD, 415),
        ("application/xml", b"<predict><question>q</question></predict>", 415),
        ("application/json", raw_multipart(b"q", GOOD), 400),  # multipart sent as JSON
        ("multipart/form-data", raw_multipart(b"q", GOOD), 400),  # no boundary
        (f"multipart/form-data; boundary=other-{BOUNDARY}", raw_multipart(b"q", GOOD), 400),
    ],
    ids=["text", "urlencoded", "none", "xml", "json-header-multipart-body", "no-boundary",
         "wrong-boundary"],
)  # fmt: skip
def test_wrong_content_types_get_a_clear_4xx(
    served: ServedService, content_type: str | None, body: bytes, status: int
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(f"{served.url}/predict", content=body, headers=headers, timeout=60)
    if content_type is None:
        assert "content-type" not in response.request.headers
    assert_clear_refusal(response, status)
    assert_still_serving(served.url)


def _chunks(head: bytes, size: int, tail: bytes) -> Iterator[bytes]:
    yield head
    block = b"\x00" * (256 * 1024)
    for _ in range(size // len(block)):
        yield block
    yield tail


@pytest.mark.parametrize("declared_length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("kind", ["multipart", "json"])
def test_a_huge_body_gets_413_quickly_never_a_hang(
    served: ServedService, kind: str, declared_length: bool
) -> None:
    size = 64 * 1024 * 1024
    if kind == "multipart":
        whole = raw_multipart(b"Is there a lesion?", b"")
        head, tail = whole[: -len(f"\r\n--{BOUNDARY}--\r\n")], f"\r\n--{BOUNDARY}--\r\n".encode()
        headers = dict(MULTIPART)
    else:
        head, tail = b'{"question": "q", "image_base64": "', b'"}'
        headers = {"content-type": "application/json"}
    started = time.monotonic()
    if declared_length:
        body = head + b"A" * size + tail
        response = httpx.post(f"{served.url}/predict", content=body, headers=headers, timeout=60)
    else:
        response = httpx.post(
            f"{served.url}/predict", content=_chunks(head, size, tail), headers=headers, timeout=60
        )
        assert "content-length" not in response.request.headers
    elapsed = time.monotonic() - started
    assert_clear_refusal(response, 413, "limit")
    assert str(BODY_LIMIT) in response.json()["detail"]
    assert elapsed < 30, f"a {size >> 20} MiB body took {elapsed:.1f}s to refuse"
    assert_still_serving(served.url)


# --- question text -----------------------------------------------------------------------------


def test_invalid_utf8_in_a_json_body_is_refused(served: ServedService) -> None:
    body = b'{"image_base64": "' + _b64(GOOD).encode() + b'", "question": "is \xff\xfe it?"}'
    response = httpx.post(
        f"{served.url}/predict",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert_clear_refusal(response, 400, "UTF-8")
    assert_still_serving(served.url)


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff lone low", "a\udc80b"])
def test_an_unpaired_surrogate_escape_in_json_is_a_422_not_a_crash(
    served: ServedService, surrogate: str
) -> None:
    """JSON may escape a lone surrogate (\\ud800); it decodes to a str no tokenizer accepts."""
    payload = {"image_base64": _b64(GOOD), "question": f"Is there a lesion? {surrogate}"}
    auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    for endpoint in ("/predict", "/audit"):
        assert_clear_refusal(post_json(served.url, endpoint, payload, auth), 422, "question")
    assert_still_serving(served.url)


def test_unpaired_surrogates_in_reference_answers_and_options_are_refused(
    served: ServedService,
) -> None:
    auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    audit = {
        "image_base64": _b64(GOOD),
        "question": "Is there a lesion?",
        "reference_answer": "yes \ud83d",
    }
    assert_clear_refusal(post_json(served.url, "/audit", audit, auth), 422, "reference_answer")
    options = {"image_base64": _b64(GOOD), "question": "Which?", "options": {"A": "left \udc00"}}
    assert_clear_refusal(post_json(served.url, "/predict", options), 422, "options")
    feedback = {"request_id": "any-id", "reference_answer": "\ud800"}
    assert_clear_refusal(post_json(served.url, "/feedback", feedback, auth), 422, "reference")
    assert_still_serving(served.url)


def test_invalid_utf8_in_a_multipart_question_is_answered_as_latin1(served: ServedService) -> None:
    """Starlette decodes a form field that is not UTF-8 as Latin-1; the service answers it."""
    body = raw_multipart(b"is there \xff\xfe\xc3 a lesion?", GOOD)
    response = httpx.post(f"{served.url}/predict", content=body, headers=MULTIPART, timeout=60)
    assert response.status_code == 200, response.text
    assert_still_serving(served.url)


CONTROL_QUESTIONS = {
    "nul": "is there\x00 a lesion?",
    "escape-sequence": "\x1b[2J\x1b[31mis there a lesion?",
    "bell-and-backspace": "is there\x07\x08 a lesion?",
    "delete-sequence": "lesion?\x7f\x08\x08\x08",
    "delete-alone": "is there\x7f a lesion?",
    "c1-csi": "\x9b2Jis there a lesion?",
    "c1-next-line": "is there\x85 a lesion?",
}


@pytest.mark.parametrize("case", list(CONTROL_QUESTIONS), ids=list(CONTROL_QUESTIONS))
def test_control_characters_are_refused(served: ServedService, case: str) -> None:
    question = CONTROL_QUESTIONS[case]
    as_json = predict_json(served.url, {"image_base64": _b64(GOOD), "question": question})
    body = raw_multipart(question.encode(), GOOD)
    as_form = httpx.post(f"{served.url}/predict", content=body, headers=MULTIPART, timeout=60)
    for response in (as_json, as_form):
        assert_clear_refusal(response, 422, "control characters")
    assert_still_serving(served.url)


INVISIBLE_QUESTIONS = {
    "zero-width": "\u200b\u200c\u200d\u2060",
    "byte-order-marks-and-spaces": " \ufeff \u200b ",
    "bidi-marks": "\u200e\u200f\u202a\u202c",
}


@pytest.mark.parametrize("case", list(INVISIBLE_QUESTIONS), ids=list(INVISIBLE_QUESTIONS))
def test_a_question_of_only_invisible_characters_is_empty(served: ServedService, case: str) -> None:
    question = INVISIBLE_QUESTIONS[case]
    response = predict_json(served.url, {"image_base64": _b64(GOOD), "question": question})
    assert_clear_refusal(response, 422, "the question is empty")
    assert_still_serving(served.url)


@pytest.mark.parametrize(
    ("chars", "status", "words"),
    [(100_000, 422, "the limit is 4000"), (1_000_000, 413, "limit")],
    ids=["100k-chars", "1M-chars"],
)
def test_huge_questions_are_refused(
    served: ServedService, chars: int, status: int, words: str
) -> None:
    """Under the body cap the question limit answers (422); a million characters exceed the body
    cap of this service (300 kB images) first (413)."""
    question = "Is there a lesion? " * (chars // 19)
    as_json = predict_json(served.url, {"image_base64": _b64(GOOD), "question": question})
    as_form = predict_multipart(served.url, GOOD, question)
    for response in (as_json, as_form):
        assert_clear_refusal(response, status, words)
    assert_still_serving(served.url)


# --- JSON shapes -------------------------------------------------------------------------------

JSON_CASES: dict[str, object] = {
    "top-level-list": [_b64(GOOD), "Is there a lesion?"],
    "top-level-string": "Is there a lesion?",
    "top-level-null": None,
    "question-null": {"image_base64": _b64(GOOD), "question": None},
    "question-object": {"image_base64": _b64(GOOD), "question": {"$gt": ""}},
    "question-number": {"image_base64": _b64(GOOD), "question": 1e308},
    "image-list": {"image_base64": [_b64(GOOD)], "question": "q"},
    "audit-not-bool": {"image_base64": _b64(GOOD), "question": "q", "audit": "maybe"},
    "options-list": {"image_base64": _b64(GOOD), "question": "q", "options": ["yes", "no"]},
    "options-nested": {"image_base64": _b64(GOOD), "question": "q", "options": {"A": {"x": 1}}},
    "request-id-path": {"image_base64": _b64(GOOD), "question": "q", "request_id": "../../etc"},
    "request-id-huge": {"image_base64": _b64(GOOD), "question": "q", "request_id": "r" * 500},
    "extra-fields": {"image_base64": _b64(GOOD), "question": "q", "admin": True, "debug": 1},
    "missing-question": {"image_base64": _b64(GOOD)},
    "empty-object": {},
}


@pytest.mark.parametrize("case", list(JSON_CASES), ids=list(JSON_CASES))
def test_json_with_wrong_types_or_extra_fields_is_a_422(served: ServedService, case: str) -> None:
    assert_clear_refusal(predict_json(served.url, JSON_CASES[case]), 422)
    assert_still_serving(served.url)


DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_is_refused_not_a_recursion_crash(served: ServedService) -> None:
    body = b'{"image_base64": "x", "question": ' + DEEP.encode() + b"}"
    response = httpx.post(
        f"{served.url}/predict",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert_clear_refusal(response, 400, "nested too deeply")
    form = httpx.post(
        f"{served.url}/predict",
        files={"image": ("scan.png", GOOD, "image/png")},
        data={"question": "Which side?", "options": DEEP},
        timeout=60,
    )
    assert_clear_refusal(form, 422, "`options` is nested too deeply")
    assert_still_serving(served.url)
