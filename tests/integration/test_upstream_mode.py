"""Upstream mode over real HTTP: a second `bentoml serve` (in-process runtime, the demo model)
is the OpenAI-compatible upstream of a wrapping service, through a recording proxy."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import jsonschema_rs
import openai
import pytest

from tests.conftest import DEMO_API_KEY as KEY
from tests.support.images import png_bytes
from tests.support.recording_proxy import RecordingProxy, recording_proxy
from tests.support.servers import RedisServer, ServedService, start_service

QUESTION = "Is there a lesion?"
SEED_QUESTION = "Is the scan normal?"


@pytest.fixture(scope="module")
def proxy(demo_service: ServedService) -> Iterator[RecordingProxy]:
    with recording_proxy(demo_service.url) as recording:
        yield recording


@pytest.fixture(scope="module")
def wrapper(
    proxy: RecordingProxy, session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    log = tmp_path_factory.mktemp("serve-upstream") / "bentoml.log"
    service = start_service(
        {
            "GROUNDING_UPSTREAM_URL": f"{proxy.url}/v1",
            "GROUNDING_UPSTREAM_AUDIT_PRIORITY": "7",
            "GROUNDING_MODEL_NAME": "wrapped-demo",
            "GROUNDING_MAX_NEW_TOKENS": "8",
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_AUDIT_MODE": "both",
            "GROUNDING_API_KEYS": KEY,
            "GROUNDING_REDIS_URL": session_redis.url,
        },
        log,
    )
    yield service
    service.stop()


def _record(url: str, request_id: str) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/audits/{request_id}", headers={"X-API-Key": KEY}, timeout=10)
        if found.status_code == 200:
            return found.json()["record"]
        time.sleep(0.5)
    raise AssertionError(f"no audit record for {request_id}")


def test_wrapped_upstream_answers_audits_and_sends_priority_on_audits_only(
    wrapper: ServedService, demo_service: ServedService, proxy: RecordingProxy
) -> None:
    assert "prompt log-probabilities not returned" in wrapper.log()
    assert "audits run in generate mode" in wrapper.log()
    image, first = png_bytes(41), png_bytes(40)
    encoded = base64.b64encode(image).decode()
    seed = httpx.post(
        f"{wrapper.url}/predict",
        json={"image_base64": base64.b64encode(first).decode(), "question": SEED_QUESTION},
        timeout=60,
    )
    assert seed.status_code == 200, seed.text  # fills the shuffle pool
    wrapped = httpx.post(
        f"{wrapper.url}/predict",
        json={"image_base64": encoded, "question": QUESTION, "audit": True, "request_id": "up-1"},
        timeout=60,
    )
    assert wrapped.status_code == 200, wrapped.text
    direct = httpx.post(
        f"{demo_service.url}/predict",
        json={"image_base64": encoded, "question": QUESTION},
        timeout=60,
    ).json()
    assert wrapped.json()["raw_output"] == direct["raw_output"], "the upstream's own answer"
    assert wrapped.json()["model"] == "wrapped-demo"

    chat = openai.OpenAI(base_url=f"{wrapper.url}/v1", api_key="x", max_retries=0)
    uri = f"data:image/png;base64,{encoded}"
    reply = chat.chat.completions.create(
        model="wrapped-demo",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": uri}},
                    {"type": "text", "text": QUESTION},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == direct["raw_output"]
    assert reply.usage.prompt_tokens > 0

    record = _record(wrapper.url, "up-1")
    assert record["mode"] == "generate" and record["model"] == "wrapped-demo"
    assert set(record["conditions"]) == {"shuffled", "blank", "no_image"}

    spec = httpx.get(f"{demo_service.url}/docs.json", timeout=30).json()
    schema = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
    validator = jsonschema_rs.validator_for(schema["application/json"]["schema"])
    bodies = proxy.chat_bodies()
    for body in bodies:
        validator.validate(body)
    first_uri = f"data:image/png;base64,{base64.b64encode(first).decode()}"
    asked = {(uri, QUESTION), (first_uri, SEED_QUESTION)}  # the shuffled audit: (first, QUESTION)

    def image_and_text(body: dict) -> tuple[str | None, str]:
        parts = body["messages"][0]["content"]
        if isinstance(parts, str):
            return None, parts
        image = next((p["image_url"]["url"] for p in parts if p["type"] == "image_url"), None)
        return image, parts[-1]["text"]

    production = [b for b in bodies if image_and_text(b) in asked]
    audits = [b for b in bodies if b not in production]
    assert len(production) == 3, "two /predict and one chat request, forwarded once each"
    assert all("priority" not in body for body in production)
    assert len(audits) >= 3, "shuffled, blank and no_image (and the start-up probe)"
    assert all(body["priority"] == 7 for body in audits)
    assert any(image_and_text(b) == (None, QUESTION) for b in audits), "the no_image condition"
    assert any(image_and_text(b) == (first_uri, QUESTION) for b in audits), "shuffled"
    assert any(body.get("prompt_logprobs") == 0 for body in audits), "the scoring probe"


def test_upstream_failures_give_502_and_score_mode_needs_logprobs(
    wrapper: ServedService, proxy: RecordingProxy
) -> None:
    body = {"image_base64": base64.b64encode(png_bytes(42)).decode(), "question": ""}
    refused = httpx.post(f"{wrapper.url}/predict", json=body, timeout=60)
    assert refused.status_code == 422, "input is still checked before forwarding"
    score = httpx.post(
        f"{wrapper.url}/audit",
        json={**body, "question": QUESTION, "mode": "score"},
        headers={"X-API-Key": KEY},
        timeout=60,
    )
    assert score.status_code == 422 and "mode=generate" in score.json()["detail"]
    generated = httpx.post(
        f"{wrapper.url}/audit",
        json={**body, "question": QUESTION, "mode": "generate"},
        headers={"X-API-Key": KEY},
        timeout=120,
    )
    assert generated.status_code == 200, generated.text
    assert {c["condition"] for c in generated.json()["conditions"]} >= {"real", "blank"}

    proxy.fail_status = 500
    try:
        failed = httpx.post(
            f"{wrapper.url}/predict", json={**body, "question": QUESTION}, timeout=60
        )
        chat = httpx.post(
            f"{wrapper.url}/v1/chat/completions",
            json={"model": "wrapped-demo", "messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )
    finally:
        proxy.fail_status = None
    assert failed.status_code == 502 and "upstream broke" in failed.json()["detail"]
    assert chat.status_code == 502 and chat.json()["error"]["type"] == "upstream_error"
    again = httpx.post(f"{wrapper.url}/predict", json={**body, "question": QUESTION}, timeout=60)
    assert again.status_code == 200, "the wrapper recovers with its upstream"
