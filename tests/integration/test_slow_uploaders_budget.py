"""16 slow uploaders against a real `bentoml serve` at GROUNDING_MAX_CONCURRENCY=4: normal
/predict clients are answered 200 while the slow ones trickle, and the slow ones get 408
(issue 28: all 57 normal requests got 503 for 60 s, because the upload budget counted uploads,
not the bytes they had sent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_upload_deadlines import start_slow_uploads, status_line
from tests.support.images import png_bytes
from tests.support.servers import ServedService, start_service

LIMIT = 4
SLOW = 4 * LIMIT
BODY_TIMEOUT_S = 8


@pytest.fixture(scope="module")
def limited_service(
    demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    served = start_service(
        {
            "GROUNDING_MODEL_PATH": str(demo_model_dir),
            "GROUNDING_MAX_NEW_TOKENS": "4",
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_REDIS_URL": "",
            "GROUNDING_MAX_CONCURRENCY": str(LIMIT),
            "GROUNDING_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        },
        tmp_path_factory.mktemp("serve-upload-budget") / "bentoml.log",
    )
    yield served
    served.stop()


def test_sixteen_slow_uploaders_leave_normal_clients_answered(
    limited_service: ServedService,
) -> None:
    slow, stop = start_slow_uploads(limited_service.url, SLOW)
    time.sleep(1)  # every slow upload is arriving before the first normal request
    started = time.monotonic()
    image = png_bytes(1, (32, 32))
    answered = []
    with httpx.Client(base_url=limited_service.url, timeout=30) as client:
        while time.monotonic() - started < BODY_TIMEOUT_S - 4 or len(answered) < 3:
            response = client.post(
                "/predict", files={"image": ("a.png", image)}, data={"question": "Is it round?"}
            )
            answered.append(response.status_code)
    statuses = [status_line(sock) for sock in slow]
    stop.set()
    print(f"normal clients: {answered}; slow uploaders: {statuses}")
    assert answered and set(answered) == {200}, answered
    assert statuses == ["HTTP/1.1 408 Request Timeout"] * SLOW
