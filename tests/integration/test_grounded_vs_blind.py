"""The same audited traffic sent to the service serving each reference model: /stats shows a
clearly higher image sensitivity for the model that looks at the image."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from audits.data.manifest import read_manifest
from audits.data.phantom import make_phantom
from tests.support.servers import RedisServer, start_service

N_ITEMS = 40


def _served_is(model_dir: Path, name: str, items, redis: RedisServer, log: Path) -> dict:
    service = start_service(
        {
            "GROUNDING_MODEL_PATH": str(model_dir),
            "GROUNDING_MODEL_NAME": name,
            "GROUNDING_SAMPLE_RATE": "1",
            "GROUNDING_AUDIT_MODE": "generate",
            "GROUNDING_MAX_NEW_TOKENS": "4",
            "GROUNDING_REDIS_URL": redis.url,
        },
        log,
    )
    try:
        with httpx.Client(timeout=60) as client:
            for item in items:
                response = client.post(
                    f"{service.url}/predict",
                    files={"image": ("scan.png", Path(item.image).read_bytes(), "image/png")},
                    data={"question": item.question},
                )
                assert response.status_code == 200, response.text
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                stats = client.get(f"{service.url}/stats").json()
                if stats["counts"]["audits"] >= len(items):
                    return stats
                time.sleep(1)
        raise AssertionError(f"audits did not complete: {stats}")
    finally:
        service.stop()


def test_stats_tell_a_looking_model_from_a_blind_one(
    grounded_model_dir: Path,
    text_only_model_dir: Path,
    session_redis: RedisServer,
    tmp_path: Path,
) -> None:
    manifest = make_phantom(tmp_path / "traffic", 24, seed=77)
    items = read_manifest(manifest)[:N_ITEMS]
    grounded = _served_is(
        grounded_model_dir, "ref-grounded", items, session_redis, tmp_path / "grounded.log"
    )
    blind = _served_is(
        text_only_model_dir, "ref-text-only", items, session_redis, tmp_path / "blind.log"
    )
    grounded_is = grounded["windows"]["15m"]["IS"]
    blind_is = blind["windows"]["15m"]["IS"]
    # the first image's questions have no other image in the shuffle pool yet: skipped, not faked
    assert grounded_is["n"] >= len(items) - 3
    assert blind_is["n"] >= len(items) - 3
    assert grounded_is["value"] >= 0.25, grounded_is
    assert blind_is["value"] <= 0.05, blind_is
    assert grounded_is["lo"] > blind_is["hi"], "the intervals must separate the two models"
    assert grounded["model"] == "ref-grounded" and blind["model"] == "ref-text-only"


pytestmark = pytest.mark.slow
