"""Patient data and secrets through two `bentoml serve` services, each with its own Redis.

Service A keeps no text (the default); service B has GROUNDING_RETAIN_TEXT=true and another
HMAC secret. Complements tests/integration/test_audit_api.py (every audit endpoint refuses a
missing or wrong key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis as redis_py
from PIL import Image

from service.telemetry.redis_keys import record_key
from tests.support.dicom import (
    PHI_ID,
    PHI_NAME,
    SHIPPED_PHI,
    shipped_bytes,
    unsupported_syntax,
    with_patient,
)
from tests.support.images import encode, noise_image, png_bytes
from tests.support.servers import (
    RedisServer,
    ServedService,
    redis_server,
    start_service,
    wait_until,
)

KEY_ALPHA = "sec-key-alpha-9f1c2d7e"
KEY_BETA = "sec-key-beta-4b7e0a13"
NEAR_MISS = KEY_ALPHA + "Z"
SECRET_A = "hmac-secret-A-51e0c8"
SECRET_B = "hmac-secret-B-77d2f4"
QUESTION = "QZX7-PHI-MARKER is there a pleural effusion on the left?"
REFERENCE = "RFX9-PHI-REFERENCE left sided effusion"


@dataclass
class Deployment:
    served: ServedService
    redis: RedisServer
    secret: str

    @property
    def url(self) -> str:
        return self.served.url


def _start(demo_model_dir: Path, workdir: Path, secret: str, retain: bool) -> Iterator[Deployment]:
    with redis_server(workdir) as redis:
        served = start_service(
            {
                "GROUNDING_MODEL_PATH": str(demo_model_dir),
                "GROUNDING_MODEL_NAME": "demo",
                "GROUNDING_MAX_NEW_TOKENS": "12",
                "GROUNDING_SAMPLE_RATE": "1",
                "GROUNDING_API_KEYS": f"{KEY_ALPHA},{KEY_BETA}",
                "GROUNDING_HMAC_SECRET": secret,
                "GROUNDING_RETAIN_TEXT": str(retain).lower(),
                "GROUNDING_MAX_IMAGE_BYTES": "300000",
                "GROUNDING_REDIS_URL": redis.url,
            },
            workdir / "bentoml.log",
        )
        try:
            yield Deployment(served, redis, secret)
        finally:
            served.stop()


@pytest.fixture(scope="module")
def plain(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    yield from _start(demo_model_dir, tmp_path_factory.mktemp("sec-plain"), SECRET_A, False)


@pytest.fixture(scope="module")
def retaining(
    demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    yield from _start(demo_model_dir, tmp_path_factory.mktemp("sec-retain"), SECRET_B, True)


def predict(
    url: str, image: bytes, request_id: str, question: str = QUESTION, audit: bool = True
) -> httpx.Response:
    response = httpx.post(
        f"{url}/predict",
        files={"image": ("scan.png", image, "image/png")},
        data={"question": question, "request_id": request_id, "audit": str(audit).lower()},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return response


def stored_record(deployment: Deployment, request_id: str, timeout: float = 120) -> dict[str, str]:
    client = redis_py.Redis(port=deployment.redis.port, decode_responses=True)
    try:
        assert wait_until(lambda: client.exists(record_key(request_id)) == 1, timeout, 0.3), (
            f"no record for {request_id}:\n{deployment.served.log()[-2000:]}"
        )
        return client.hgetall(record_key(request_id))
    finally:
        client.close()


def redis_contents(server: RedisServer) -> bytes:
    """Every key and every value in the Redis, whatever its type, joined."""
    client = redis_py.Redis(port=server.port)
    parts: list[bytes] = []
    try:
        for key in client.scan_iter(count=1000):
            parts.append(key)
            kind = client.type(key).decode()
            if kind == "string":
                parts.append(client.get(key) or b"")
            elif kind == "hash":
                for name, value in client.hgetall(key).items():
                    parts += [name, value]
            elif kind == "stream":
                for _, fields in client.xrange(key):
                    for name, value in fields.items():
                        parts += [name, value]
            elif kind == "list":
                parts += client.lrange(key, 0, -1)
            elif kind == "set":
                parts += sorted(client.smembers(key))
            elif kind == "zset":
                parts += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
            else:
                raise AssertionError(f"unexpected Redis type {kind} for {key!r}")
    finally:
        client.close()
    assert parts, "the Redis is empty: nothing was checked"
    return b"\n".join(parts)


def access_lines(log: str) -> list[dict[str, object]]:
    return [
        json.loads(line[line.index("{") :])
        for line in log.splitlines()
        if "grounding.access" in line and "{" in line
    ]


def auth(key: str = KEY_ALPHA, header: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- keyed image ids ---------------------------------------------------------------------------


def test_image_ids_are_hmacs_under_each_services_secret(
    plain: Deployment, retaining: Deployment
) -> None:
    image = png_bytes(501)
    records = {}
    for deployment in (plain, retaining):
        predict(deployment.url, png_bytes(502), "hmac-other")  # a partner in the shuffle pool
        predict(deployment.url, image, "hmac-same")
        records[deployment.secret] = stored_record(deployment, "hmac-same")
    id_a, id_b = records[SECRET_A]["image_id"], records[SECRET_B]["image_id"]
    with Image.open(io.BytesIO(image)) as decoded:
        rgb = decoded.convert("RGB")
    pixels = f"RGB:{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()
    assert id_a == hmac.new(SECRET_A.encode(), pixels, hashlib.sha256).hexdigest()
    assert id_b == hmac.new(SECRET_B.encode(), pixels, hashlib.sha256).hexdigest()
    assert id_a != id_b, "the same image under two secrets must get two ids"
    assert hashlib.sha256(pixels).hexdigest() not in (id_a, id_b), "never a plain hash"
    report = httpx.post(
        f"{plain.url}/audit",
        json={"image_base64": _b64(image), "question": "Is there a lesion?", "mode": "score"},
        headers=auth(),
        timeout=120,
    )
    assert report.status_code == 200, report.text
    assert report.json()["image_id"] == id_a


# --- DICOM headers ------------------------------------------------------------------------------


def test_dicom_headers_never_reach_logs_redis_metrics_or_responses(plain: Deployment) -> None:
    """DICOM through /predict (multipart and JSON), /audit and refusals; then every Redis key and
    value, the server log and every response are searched for the files' patient details."""
    url = plain.url
    ct = shipped_bytes("CT_small.dcm")
    edited_ct = with_patient(ct)
    mr = shipped_bytes("MR_small.dcm")
    assert SHIPPED_PHI[0].encode() in ct and SHIPPED_PHI[2].encode() in mr
    bodies: list[bytes] = []
    first = httpx.post(
        f"{url}/predict",
        files={"image": ("ct.dcm", edited_ct, "application/dicom")},
        data={"question": "Is there a lesion?", "request_id": "dicom-ct", "audit": "true"},
        timeout=120,
    )
    assert first.status_code == 200, first.text
    second = httpx.post(
        f"{url}/predict",
        json={
            "image_base64": _b64(mr),
            "question": "Is there a lesion?",
            "audit": True,
            "request_id": "dicom-mr",
        },
        timeout=120,
    )
    assert second.status_code == 200, second.text
    report = httpx.post(
        f"{url}/audit",
        json={
            "image_base64": _b64(ct),
            "shuffled_image_base64": _b64(mr),
            "question": "Is there a lesion?",
            "mode": "score",
        },
        headers=auth(),
        timeout=120,
    )
    assert report.status_code == 200, report.text
    bodies += [first.content, second.content, report.content]
    refusals = {
        "MR_truncated.dcm": 400,
        "rtplan.dcm": 422,
        "test-SR.dcm": 422,
        "waveform_ecg.dcm": 422,
    }
    for name, status in refusals.items():
        refused = httpx.post(
            f"{url}/predict",
            files={"image": (name, shipped_bytes(name), "application/dicom")},
            data={"question": "Is there a lesion?"},
            timeout=60,
        )
        assert refused.status_code == status, (name, refused.text)
        bodies.append(refused.content)
    unsupported = httpx.post(
        f"{url}/predict",
        json={"image_base64": _b64(with_patient(unsupported_syntax())), "question": "Lesion?"},
        timeout=60,
    )
    assert unsupported.status_code == 415 and "MPEG2" in unsupported.json()["detail"]
    bodies.append(unsupported.content)

    record = stored_record(plain, "dicom-ct")
    assert record["image_id"] == report.json()["image_id"], "same pixels, edited headers: one id"
    stored_record(plain, "dicom-mr")
    for request_id in ("dicom-ct", "dicom-mr"):
        bodies.append(httpx.get(f"{url}/audits/{request_id}", headers=auth(), timeout=30).content)
    for path in ("/stats", "/metrics"):
        bodies.append(httpx.get(f"{url}{path}", timeout=30).content)
    time.sleep(0.5)
    phi = [
        PHI_NAME,
        PHI_ID,
        "Quillfeather",
        "Zzyzx",
        "19500101",
        *SHIPPED_PHI,
        "Last^First",
        "id00001",
        "Test^S R",
        "642341",
    ]
    log = plain.served.log()
    blob = redis_contents(plain.redis)
    for value in phi:
        assert value not in log, f"{value} is in the log"
        assert value.encode() not in blob, f"{value} is in Redis"
        for body in bodies:
            assert value.encode() not in body, f"{value} is in a response"


# --- text retention ----------------------------------------------------------------------------


def test_without_retention_no_question_or_answer_text_is_in_redis(
    plain: Deployment, retaining: Deployment
) -> None:
    outputs = {}
    for deployment in (plain, retaining):
        predict(deployment.url, png_bytes(511), "text-partner", question="Is there a lesion?")
        response = predict(deployment.url, png_bytes(512), "text-marked").json()
        outputs[deployment.secret] = response["raw_output"]
        stored_record(deployment, "text-marked")

    plain_blob = redis_contents(plain.redis)
    raw = outputs[SECRET_A]
    assert len(raw.strip()) >= 6, f"the demo model's output is too short to search for: {raw!r}"
    assert b"QZX7-PHI-MARKER" not in plain_blob
    assert QUESTION.encode() not in plain_blob
    assert raw.encode() not in plain_blob, "the model's answer text must not be stored"
    record = httpx.get(f"{plain.url}/audits/text-marked", headers=auth(), timeout=30).json()
    assert record["record"]["question"] is None and record["record"]["outputs"] is None

    retained_blob = redis_contents(retaining.redis)
    assert QUESTION.encode() in retained_blob
    assert outputs[SECRET_B].encode() in retained_blob
    stored = stored_record(retaining, "text-marked")
    assert stored["question"] == QUESTION and stored["output_real"] == outputs[SECRET_B]


# --- keys and secrets --------------------------------------------------------------------------


def test_keys_and_secrets_never_appear_in_logs_redis_or_responses(
    plain: Deployment, retaining: Deployment
) -> None:
    bodies: list[bytes] = []
    for deployment in (plain, retaining):
        url = deployment.url
        predict(url, png_bytes(521), "keys-1")
        stored_record(deployment, "keys-1")
        for key, header in [(KEY_ALPHA, "bearer"), (KEY_BETA, "x-api-key")]:
            found = httpx.get(f"{url}/audits/keys-1", headers=auth(key, header), timeout=30)
            assert found.status_code == 200
            bodies.append(found.content)
            feedback = httpx.post(
                f"{url}/feedback",
                json={"request_id": "keys-1", "reference_answer": "yes"},
                headers=auth(key, header),
                timeout=30,
            )
            assert feedback.status_code == 200
            bodies.append(feedback.content)
        refused = httpx.get(f"{url}/audits/keys-1", headers=auth(NEAR_MISS), timeout=30)
        assert refused.status_code == 401
        bodies.append(refused.content)
        for path in ("/stats", "/metrics", "/docs.json", "/readyz"):
            bodies.append(httpx.get(f"{url}{path}", timeout=30).content)
    time.sleep(0.5)
    secrets = [KEY_ALPHA, KEY_BETA, NEAR_MISS, SECRET_A, SECRET_B]
    for deployment in (plain, retaining):
        log = deployment.served.log()
        redis_blob = redis_contents(deployment.redis)
        assert len(access_lines(log)) >= 4
        for secret in secrets:
            assert secret not in log, f"{secret} is in the log"
            assert secret.encode() not in redis_blob, f"{secret} is in Redis"
    for body in bodies:
        for secret in secrets:
            assert secret.encode() not in body


# --- the shuffle pool --------------------------------------------------------------------------


def _encodings(data: bytes) -> list[bytes]:
    """Windows of ``data`` in the ways an endpoint could return it: raw, base64 (every
    alignment, standard and URL-safe), hex."""
    middle = data[len(data) // 3 : len(data) // 3 + 48]
    out = [middle, middle.hex().encode(), middle.hex().upper().encode()]
    for shift in range(3):
        encoded = base64.b64encode(data[len(data) // 3 + shift :][:300])
        out += [encoded[8:56], encoded[8:56].replace(b"+", b"-").replace(b"/", b"_")]
    return out


def test_the_shuffle_pools_images_are_never_returned_by_any_endpoint(plain: Deployment) -> None:
    url = plain.url
    secret_image = noise_image(777, (64, 64))
    secret_png = encode(secret_image)
    pixels = Image.open(io.BytesIO(secret_png)).convert("RGB").tobytes()
    needles = _encodings(secret_png) + _encodings(pixels)

    predict(url, secret_png, "pool-secret", question="Is there a lesion?")
    stored_record(plain, "pool-secret")
    later = predict(url, png_bytes(531), "pool-later", question="Is there a lesion?").json()
    partnered = stored_record(plain, "pool-later")
    assert "shuffled" in partnered["conditions"].split(","), "the pool was used for shuffling"

    headers = auth()
    responses = [
        httpx.post(
            f"{url}/audit",
            json={"image_base64": _b64(png_bytes(532)), "question": "Is there a lesion?"},
            headers=headers,
            timeout=120,
        ),
        httpx.post(
            f"{url}/audit",
            files={"image": ("x.png", png_bytes(533), "image/png")},
            data={"question": "Which side?", "mode": "generate"},
            headers=headers,
            timeout=120,
        ),
        httpx.post(
            f"{url}/predict",
            json={"image_base64": _b64(png_bytes(534)), "question": "q?", "audit": True},
            timeout=120,
        ),
        httpx.get(f"{url}/audits/pool-secret", headers=headers, timeout=30),
        httpx.get(f"{url}/audits/pool-later", headers=headers, timeout=30),
        httpx.post(
            f"{url}/feedback",
            json={"request_id": "pool-later", "reference_answer": later["answer"] or "yes"},
            headers=headers,
            timeout=30,
        ),
    ]
    for path in ("/stats", "/docs.json", "/metrics", "/livez", "/readyz", "/docs", "/"):
        responses.append(httpx.get(f"{url}{path}", timeout=30, follow_redirects=True))
    assert all(r.status_code < 500 for r in responses), [r.status_code for r in responses]
    assert [r.status_code for r in responses[:6]] == [200] * 6, [r.text for r in responses[:6]]
    shuffled = next(c for c in responses[0].json()["conditions"] if c["condition"] == "shuffled")
    assert shuffled["skipped"] is False, "the on-demand audit drew its partner from the pool"
    for response in responses:
        for needle in needles:
            assert needle not in response.content, f"{response.url} returned pool image bytes"
    redis_blob = redis_contents(plain.redis)
    for needle in needles:
        assert needle not in redis_blob, "image bytes are at rest in Redis"
    assert not re.search(rb"[A-Za-z0-9+/=]{200,}", redis_blob), "no long base64 run in Redis"


# --- the access log ----------------------------------------------------------------------------


def test_the_access_log_records_every_access_without_patient_data(plain: Deployment) -> None:
    url = plain.url
    image = png_bytes(541)
    calls: list[tuple[str, int, str | None, str]] = []  # endpoint, status, request id, who

    report = httpx.post(
        f"{url}/audit",
        json={"image_base64": _b64(image), "question": QUESTION, "reference_answer": REFERENCE},
        headers=auth(KEY_BETA, "x-api-key"),
        timeout=120,
    )
    assert report.status_code == 200, report.text
    audit_id = report.json()["request_id"]
    calls.append(("POST /audit", 200, audit_id, "key"))
    predict(url, png_bytes(542), "access-1")
    stored_record(plain, "access-1")
    found = httpx.get(f"{url}/audits/access-1", headers=auth(), timeout=30)
    calls.append(("GET /audits/{request_id}", found.status_code, "access-1", "key"))
    missing = httpx.get(f"{url}/audits/access-none", headers=auth(), timeout=30)
    calls.append(("GET /audits/{request_id}", missing.status_code, "access-none", "key"))
    feedback = httpx.post(
        f"{url}/feedback",
        json={"request_id": "access-1", "reference_answer": REFERENCE},
        headers=auth(),
        timeout=30,
    )
    calls.append(("POST /feedback", feedback.status_code, "access-1", "key"))
    bad_image = httpx.post(
        f"{url}/audit",
        json={"image_base64": _b64(b"not an image " * 10), "question": QUESTION},
        headers=auth(),
        timeout=60,
    )
    calls.append(("POST /audit", bad_image.status_code, None, "key"))
    assert [c[1] for c in calls] == [200, 200, 404, 200, 400]
    refusals = [
        httpx.get(f"{url}/audits/access-1", timeout=30),
        httpx.get(f"{url}/audits/access-1", headers=auth(NEAR_MISS), timeout=30),
        httpx.post(
            f"{url}/feedback",
            json={"request_id": "access-1", "reference_answer": REFERENCE},
            headers=auth("wrong"),
            timeout=30,
        ),
        httpx.post(
            f"{url}/audit",
            json={"image_base64": _b64(image), "question": QUESTION},
            timeout=30,
        ),
    ]
    assert [r.status_code for r in refusals] == [401] * 4
    calls += [
        ("GET /audits/{request_id}", 401, None, "anonymous"),
        ("GET /audits/{request_id}", 401, None, "invalid-key"),
        ("POST /feedback", 401, None, "invalid-key"),
        ("POST /audit", 401, None, "anonymous"),
    ]
    time.sleep(0.5)
    log = plain.served.log()
    lines = access_lines(log)
    tail = lines[-len(calls) :]
    assert len(tail) == len(calls), lines
    for (endpoint, status, request_id, who), line in zip(calls, tail, strict=True):
        assert line["endpoint"] == endpoint and line["status"] == status, (line, endpoint)
        if request_id is not None:
            assert line["request_id"] == request_id, line
        if who == "key":
            assert str(line["who"]).startswith("key:") and len(str(line["who"])) == 14, line
        else:
            assert line["who"] == who, line
        assert isinstance(line["ts"], float)
    assert {line["who"] for line in tail if line["status"] != 401} == {
        "key:" + hashlib.sha256(k.encode()).hexdigest()[:10] for k in (KEY_ALPHA, KEY_BETA)
    }
    for marker in ("QZX7-PHI-MARKER", "RFX9-PHI-REFERENCE"):
        assert marker not in log, f"patient text {marker} is in the service log"
    image_b64 = _b64(image)
    assert image_b64[40:100] not in log
