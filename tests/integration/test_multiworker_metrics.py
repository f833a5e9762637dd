"""/metrics of a 2-worker `bentoml serve` shows counts summed across the workers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.support.images import png_bytes
from tests.support.servers import RedisServer, start_service

N_REQUESTS = 12


def _metric(text: str, name: str, labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_workers_report_summed_counters(
    demo_model_dir: Path, session_redis: RedisServer, tmp_path: Path
) -> None:
    service = start_service(
        {
            "GROUNDING_MODEL_PATH": str(demo_model_dir),
            "GROUNDING_MODEL_NAME": "two-workers",
            "GROUNDING_WORKERS": "2",
            "GROUNDING_MAX_NEW_TOKENS": "4",
            "GROUNDING_AUDIT_MODE": "score",
            "GROUNDING_REDIS_URL": session_redis.url,
        },
        tmp_path / "bentoml.log",
    )
    try:
        with httpx.Client(timeout=60) as client:
            for index in range(N_REQUESTS):
                response = client.post(
                    f"{service.url}/predict",
                    files={"image": ("s.png", png_bytes(900 + index))},
                    data={"question": "Is there a lesion?", "audit": "true"},
                    headers={"Connection": "close"},
                )
                assert response.status_code == 200, response.text
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = httpx.get(f"{service.url}/metrics", timeout=10).text
            if _metric(text, "grounding_audits_total", 'model="two-workers"') >= N_REQUESTS:
                break
            time.sleep(1)
        labels = 'model="two-workers"'
        assert _metric(text, "grounding_requests_total", labels) == N_REQUESTS
        assert _metric(text, "grounding_mirrored_total", labels) == N_REQUESTS
        assert _metric(text, "grounding_audits_total", labels) == N_REQUESTS
        workers = set(
            re.findall(r"worker[_ ]id=(\d+)|\[entry_service:[^:]+:(\d+)\]", service.log())
        )
        pids = {a or b for a, b in workers}
        if len(pids) < 2:
            pytest.skip("all requests landed on one worker; the sum was not exercised")
    finally:
        service.stop()
