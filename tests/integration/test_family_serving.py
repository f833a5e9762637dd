"""One mirrored audit through `bentoml serve` for each VLM family's tiny checkpoint."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_models.families.registry import FAMILIES, ensure_family_checkpoint
from tests.conftest import DEMO_API_KEY
from tests.support.images import png_bytes
from tests.support.servers import RedisServer, start_service

BEARER = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def _wait_for_record(url: str, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/audits/{request_id}", headers=BEARER, timeout=10)
        if found.status_code == 200:
            return found.json()["record"]
        assert found.status_code == 404, found.text
        time.sleep(0.3)
    raise AssertionError(f"no record for {request_id}")


@pytest.mark.parametrize("model_type", sorted(set(FAMILIES) - {"qwen2_vl"}))
def test_a_mirrored_audit_of_each_family(
    model_type: str,
    cache_dir: Path,
    session_redis: RedisServer,
    tmp_path: Path,
) -> None:
    """Qwen2-VL is served by every other service test (the demo and reference models)."""
    folder = ensure_family_checkpoint(model_type, cache_dir)
    service = start_service(
        {
            "GROUNDING_MODEL_PATH": str(folder),
            "GROUNDING_MODEL_NAME": f"tiny-{model_type}",
            "GROUNDING_MAX_NEW_TOKENS": "4",
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_API_KEYS": DEMO_API_KEY,
            "GROUNDING_REDIS_URL": session_redis.url,
        },
        tmp_path / "bentoml.log",
    )
    try:
        predicted = httpx.post(
            f"{service.url}/predict",
            files={"image": ("scan.png", png_bytes(40))},
            data={"question": "Is there a lesion?", "audit": "true"},
            timeout=60,
        )
        assert predicted.status_code == 200, predicted.text
        record = _wait_for_record(service.url, predicted.json()["request_id"])
    finally:
        service.stop()
    assert record["model"] == f"tiny-{model_type}"
    assert {"blank", "no_image"} <= set(record["conditions"]), record
    for condition in ("blank", "no_image"):
        assert math.isfinite(record["delta_logp"][condition]), record
