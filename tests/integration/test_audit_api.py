"""The audit API through `bentoml serve`: happy paths, authentication, OpenAPI, fuzzing."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO_API_KEY
from tests.support.images import png_bytes
from tests.support.servers import ServedService

BEARER = {"Authorization": f"Bearer {DEMO_API_KEY}"}
X_KEY = {"X-API-Key": DEMO_API_KEY}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _audit_json(**extra: object) -> dict[str, object]:
    return {"image_base64": _b64(png_bytes(21)), "question": "Is there a lesion?", **extra}


def test_audit_json_returns_the_full_report(demo_service: ServedService) -> None:
    payload = _audit_json(
        reference_answer="yes",
        shuffled_image_base64=_b64(png_bytes(22)),
        mode="both",
    )
    response = httpx.post(f"{demo_service.url}/audit", json=payload, headers=BEARER, timeout=60)
    assert response.status_code == 200, response.text
    report = response.json()
    by_condition = {entry["condition"]: entry for entry in report["conditions"]}
    assert set(by_condition) == {"real", "shuffled", "blank", "no_image"}
    for name, entry in by_condition.items():
        assert entry["skipped"] is False
        assert isinstance(entry["raw_output"], str)
        assert isinstance(entry["logp"], float)
        assert entry["correct"] in (True, False)
        if name != "real":
            # an <unparsed> answer (the random demo model writes gibberish) has no known flip
            unparsed = "<unparsed>" in (entry["answer"], by_condition["real"]["answer"])
            assert entry["flip"] is None if unparsed else entry["flip"] in (True, False)
            assert entry["delta_logp"] == pytest.approx(
                by_condition["real"]["logp"] - entry["logp"], abs=1e-4
            )
    assert "generate" in report["timings_ms"] and "score" in report["timings_ms"]
    assert isinstance(report["claim_spans"], list)
    assert report["hvr"] in (True, False, None)
    checks = {check["name"]: check for check in report["checks"]}
    assert {"visual_claim", "image_invariant", "hvr"} <= set(checks)
    # every check says in words what "flagged" means for it
    assert all(check["meaning"].startswith("flagged = ") for check in checks.values())


def test_audit_multipart_with_x_api_key_and_a_skipped_shuffle(demo_service: ServedService) -> None:
    response = httpx.post(
        f"{demo_service.url}/audit",
        files={"image": ("scan.png", png_bytes(23), "image/png")},
        data={
            "question": "Which side is the lesion on?",
            "mode": "score",
            "conditions": json.dumps(["blank", "no_image"]),
        },
        headers=X_KEY,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    conditions = [entry["condition"] for entry in response.json()["conditions"]]
    assert conditions == ["real", "blank", "no_image"]


def _wait_for_record(url: str, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/audits/{request_id}", headers=BEARER, timeout=10)
        if found.status_code == 200:
            return found.json()["record"]
        assert found.status_code == 404
        time.sleep(0.5)
    raise AssertionError(f"no record for {request_id}")


def test_mirrored_record_lookup_and_feedback(demo_service: ServedService) -> None:
    url = demo_service.url
    httpx.post(
        f"{url}/predict",
        files={"image": ("a.png", png_bytes(30))},
        data={"question": "Is there a lesion?"},
        timeout=60,
    )
    predicted = httpx.post(
        f"{url}/predict",
        files={"image": ("b.png", png_bytes(31))},
        data={"question": "Is there a lesion?", "audit": "true"},
        timeout=60,
    ).json()
    record = _wait_for_record(url, predicted["request_id"])
    assert record["request_id"] == predicted["request_id"]
    assert record["image_id"] and len(record["image_id"]) == 64

    feedback = httpx.post(
        f"{url}/feedback",
        json={"request_id": predicted["request_id"], "reference_answer": predicted["answer"]},
        headers=BEARER,
        timeout=10,
    )
    assert feedback.status_code == 200, feedback.text
    correct = feedback.json()["correct"]
    assert correct["real"] is True, "the production answer matches itself"
    wrong = httpx.post(
        f"{url}/feedback",
        json={"request_id": predicted["request_id"], "reference_answer": "zzz-not-it"},
        headers=BEARER,
    )
    assert wrong.json()["correct"]["real"] is False


def test_unknown_ids_malformed_json_and_long_reference(demo_service: ServedService) -> None:
    url = demo_service.url
    assert httpx.get(f"{url}/audits/no-such-id", headers=BEARER).status_code == 404
    unknown = httpx.post(
        f"{url}/feedback",
        json={"request_id": "no-such-id", "reference_answer": "yes"},
        headers=BEARER,
    )
    assert unknown.status_code == 404
    malformed = httpx.post(
        f"{url}/feedback",
        content=b'{"request_id": ',
        headers={**BEARER, "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    too_long = httpx.post(
        f"{url}/feedback",
        json={"request_id": "x", "reference_answer": "y" * 5000},
        headers=BEARER,
    )
    assert too_long.status_code == 422
    long_reference = httpx.post(
        f"{url}/audit", json=_audit_json(reference_answer="n" * 5000), headers=BEARER, timeout=60
    )
    assert long_reference.status_code == 422


PROTECTED = [
    ("post", "/audit"),
    ("get", "/audits/some-id"),
    ("post", "/feedback"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": "Basic x"},
        {"Authorization": f"Bearer {DEMO_API_KEY}x"},
    ],
    ids=["none", "wrong-bearer", "wrong-x-api-key", "basic", "key-prefix"],
)
def test_every_audit_endpoint_refuses_without_a_valid_key(
    demo_service: ServedService, method: str, path: str, headers: dict[str, str]
) -> None:
    body = _audit_json() if path == "/audit" else {"request_id": "r", "reference_answer": "y"}
    kwargs = {"json": body} if method == "post" else {}
    response = httpx.request(method, f"{demo_service.url}{path}", headers=headers, **kwargs)
    assert response.status_code == 401
    assert "key" in response.json()["detail"].lower()


def test_access_log_names_the_caller_without_the_key(demo_service: ServedService) -> None:
    httpx.get(f"{demo_service.url}/audits/log-check-id", headers=BEARER)
    time.sleep(0.5)
    log = demo_service.log()
    lines = [line for line in log.splitlines() if "grounding.access" in line]
    assert any("log-check-id" in line and '"who": "key:' in line for line in lines), lines[-5:]
    assert DEMO_API_KEY not in log


def test_openapi_covers_every_endpoint_and_schema(demo_service: ServedService) -> None:
    spec = httpx.get(f"{demo_service.url}/docs.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/predict", "post"),
        ("/audit", "post"),
        ("/audits/{request_id}", "get"),
        ("/feedback", "post"),
        ("/stats", "get"),
    ]:
        assert method in paths[path], path
    predict_body = paths["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(predict_body)
    schemas = spec["components"]["schemas"]
    for name in (
        "PredictResponse",
        "AuditReport",
        "FeedbackResponse",
        "StoredAudit",
        "StoredAuditRecord",
    ):
        assert name in schemas
    stored = schemas["StoredAuditRecord"]["properties"]
    assert stored["ts"]["type"] == "number" and stored["visual_claims"]["type"] == "integer"


def test_schemathesis_finds_no_server_errors(demo_service: ServedService, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{demo_service.url}/docs.json",
        "--url",
        demo_service.url,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "25",
        "--seed",
        "7",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "-H",
        f"Authorization: Bearer {DEMO_API_KEY}",
        "--include-path-regex",
        "^/(predict|audit|audits/.*|feedback|stats)$",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
