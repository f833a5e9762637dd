"""/predict and the audit record through a real `bentoml serve` of a checkpoint on disk."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tests.conftest import DEMO_API_KEY as KEY
from tests.support.images import bomb_png, png_bytes
from tests.support.servers import ServedService


@pytest.fixture
def served(demo_service: ServedService) -> ServedService:
    return demo_service


def _predict_multipart(url: str, image: bytes, question: str = "Is there a lesion?", **fields):
    data = {"question": question, **{k: str(v).lower() for k, v in fields.items()}}
    return httpx.post(
        f"{url}/predict", files={"image": ("scan.png", image, "image/png")}, data=data, timeout=60
    )


def test_predict_multipart_and_json(served: ServedService) -> None:
    first = _predict_multipart(served.url, png_bytes(1))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["raw_output"] and body["request_id"] and "answer" in body
    assert body["audit"] == {"sampled": False, "queued": False, "reason": "not_sampled"}

    payload = {
        "image_base64": base64.b64encode(png_bytes(1)).decode(),
        "question": "Is there a lesion?",
        "request_id": "fixed-id-1",
    }
    second = httpx.post(f"{served.url}/predict", json=payload, timeout=60)
    assert second.status_code == 200, second.text
    assert second.json()["request_id"] == "fixed-id-1"
    assert second.json()["raw_output"] == body["raw_output"], "greedy decoding is deterministic"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("corrupt", 400),
        ("truncated", 400),
        ("not-an-image", 400),
        ("too-many-bytes", 413),
        ("too-many-pixels", 413),
        ("bomb", 413),
        ("empty-question", 422),
        ("long-question", 422),
        ("malformed-json", 400),
        ("bad-base64", 400),
        ("wrong-type-json", 422),
        ("extra-field-json", 422),
        ("wrong-content-type", 415),
        ("missing-image", 422),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(
    served: ServedService, kind: str, status: int
) -> None:
    url = served.url
    good = png_bytes(2)
    if kind == "corrupt":
        response = _predict_multipart(url, b"\x89PNG\r\n\x1a\n" + b"\x13" * 200)
    elif kind == "truncated":
        response = _predict_multipart(url, good[: len(good) // 2])
    elif kind == "not-an-image":
        response = _predict_multipart(url, b"%PDF-1.4 this is a pdf, not a scan")
    elif kind == "too-many-bytes":
        response = _predict_multipart(url, png_bytes(3, (400, 400)))
    elif kind == "too-many-pixels":
        from PIL import Image

        from tests.support.images import encode

        response = _predict_multipart(url, encode(Image.new("RGB", (1200, 1000))))
    elif kind == "bomb":
        response = _predict_multipart(url, bomb_png())
    elif kind == "empty-question":
        response = _predict_multipart(url, good, question="   ")
    elif kind == "long-question":
        response = _predict_multipart(url, good, question="why " * 5000)
    elif kind == "malformed-json":
        response = httpx.post(
            f"{url}/predict",
            content=b'{"question": "x", ',
            headers={"content-type": "application/json"},
        )
    elif kind == "bad-base64":
        response = httpx.post(
            f"{url}/predict", json={"image_base64": "!!!not base64!!!", "question": "q"}
        )
    elif kind == "wrong-type-json":
        response = httpx.post(f"{url}/predict", json={"image_base64": 5, "question": ["q"]})
    elif kind == "extra-field-json":
        payload = {"image_base64": base64.b64encode(good).decode(), "question": "q", "x": 1}
        response = httpx.post(f"{url}/predict", json=payload)
    elif kind == "wrong-content-type":
        response = httpx.post(f"{url}/predict", content=good, headers={"content-type": "image/png"})
    else:
        response = httpx.post(f"{url}/predict", data={"question": "q"}, files={"x": ("a", b"b")})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 10
    after = _predict_multipart(url, good)
    assert after.status_code == 200, "the worker must keep serving after bad input"


def test_forced_audit_yields_a_record_with_every_condition(served: ServedService) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    _predict_multipart(served.url, png_bytes(10))  # a second image for the shuffle pool
    response = _predict_multipart(served.url, png_bytes(11), audit=True)
    assert response.status_code == 200
    body = response.json()
    assert body["audit"]["sampled"] is True
    request_id = body["request_id"]
    record = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lookup = httpx.get(f"{served.url}/audits/{request_id}", headers=headers, timeout=10)
        if lookup.status_code == 200:
            record = lookup.json()["record"]
            break
        time.sleep(0.5)
    assert record is not None, served.log()[-2000:]
    assert record["conditions"] == ["shuffled", "blank", "no_image"]
    for condition in ("shuffled", "blank", "no_image"):
        # the random demo model writes gibberish: an <unparsed> answer leaves the flip unknown
        # (null), never a guessed true or false; the score-mode shift is always there
        assert record["flips"][condition] in (True, False, None)
        assert record["answer_fingerprints"][condition]
        assert isinstance(record["delta_logp"][condition], float)
    assert isinstance(record["ts"], float) and isinstance(record["visual_claims"], int)
    assert record["question"] is None and record["outputs"] is None, "text retention is off"
