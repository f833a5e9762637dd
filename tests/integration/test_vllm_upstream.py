"""A real vLLM in the loop (``make vllm``): upstream mode in front of it, the offline audit of it
against an in-process run of the same checkpoint, and the start-up priority check.

One vLLM for the module (started with ``--scheduling-policy priority``, as the README says),
serving the tiny random-weight Idefics3 of ``build-family-model --vllm``; the wrapping
service reaches it through a proxy that records every request body vLLM receives.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_client
from PIL import Image

from audits.backends.openai_http import chat_messages
from audits.contracts.backend import VLMInput
from audits.data.phantom import make_phantom
from reference_models.families.registry import ensure_vllm_checkpoint
from service.engine.upstream_probe import probe_priority_scheduling
from tests.conftest import DEMO_API_KEY as KEY
from tests.support.images import png_bytes
from tests.support.recording_proxy import RecordingProxy, recording_proxy
from tests.support.servers import (
    RedisServer,
    ServedService,
    VllmServer,
    start_service,
    start_vllm,
    vllm_installed,
)

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not vllm_installed(), reason="no vLLM in .venv-vllm: run `make vllm`"),
]

CLI = str(Path(sys.executable).parent / "grounding-audit")
QUESTION = "Is there a lesion?"
SEED_QUESTION = "Is the scan normal?"
MAX_TOKENS = 8
AUDIT_PRIORITY = 10
LOGP_TOLERANCE = 1e-3
"""Absolute, on sums of 1-10 token log-probabilities of magnitude 20-110 (float32 on both sides;
measured differences are below 3e-5)."""


@pytest.fixture(scope="module")
def vllm_model_dir(cache_dir: Path) -> Path:
    return ensure_vllm_checkpoint(cache_dir)


@pytest.fixture(scope="module")
def vllm(vllm_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    server = start_vllm(vllm_model_dir, tmp_path_factory.mktemp("vllm"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(vllm: VllmServer) -> Iterator[RecordingProxy]:
    with recording_proxy(vllm.url) as recording:
        yield recording


@pytest.fixture(scope="module")
def wrapper(
    proxy: RecordingProxy, session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    service = start_service(
        {
            "GROUNDING_UPSTREAM_URL": f"{proxy.url}/v1",
            "GROUNDING_UPSTREAM_AUDIT_PRIORITY": str(AUDIT_PRIORITY),
            "GROUNDING_MODEL_NAME": "vllm-wrapped",
            "GROUNDING_MAX_NEW_TOKENS": str(MAX_TOKENS),
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_AUDIT_MODE": "both",
            "GROUNDING_API_KEYS": KEY,
            "GROUNDING_REDIS_URL": session_redis.url,
        },
        tmp_path_factory.mktemp("serve-vllm-upstream") / "bentoml.log",
    )
    yield service
    service.stop()


def _record(url: str, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/audits/{request_id}", headers={"X-API-Key": KEY}, timeout=10)
        if found.status_code == 200:
            return found.json()["record"]
        time.sleep(0.5)
    raise AssertionError(f"no audit record for {request_id}")


def _vllm_answer(vllm: VllmServer, png: bytes, question: str) -> str:
    """vLLM's own greedy answer to the chat request a client would send it."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    body = {
        "model": vllm.model,
        "messages": chat_messages(VLMInput(question, image)),
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    response = httpx.post(f"{vllm.url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_upstream_mode_over_vllm_answers_with_vllms_answer_and_audits_at_lower_priority(
    wrapper: ServedService, vllm: VllmServer, proxy: RecordingProxy, session_redis: RedisServer
) -> None:
    assert "prompt log-probabilities returned (score mode available)" in wrapper.log(), (
        "score mode detected from vLLM's prompt_logprobs"
    )
    first, image = png_bytes(51), png_bytes(52)
    seed = httpx.post(
        f"{wrapper.url}/predict",
        files={"image": ("first.png", first)},
        data={"question": SEED_QUESTION},
        timeout=120,
    )
    assert seed.status_code == 200, seed.text  # fills the shuffle pool
    wrapped = httpx.post(
        f"{wrapper.url}/predict",
        files={"image": ("scan.png", image)},
        data={"question": QUESTION, "audit": "true", "request_id": "vllm-1"},
        timeout=120,
    )
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["model"] == "vllm-wrapped"
    assert wrapped.json()["raw_output"] == _vllm_answer(vllm, image, QUESTION)
    assert seed.json()["raw_output"] == _vllm_answer(vllm, first, SEED_QUESTION)

    record = _record(wrapper.url, "vllm-1")
    assert record["mode"] == "both" and record["model"] == "vllm-wrapped"
    assert set(record["conditions"]) == {"shuffled", "blank", "no_image"}
    for condition in ("shuffled", "blank", "no_image"):
        assert math.isfinite(record["delta_logp"][condition]), record

    store = redis_client.Redis.from_url(session_redis.url, decode_responses=True)
    try:
        stored = store.hgetall("{grounding}:audit:vllm-1")
        streamed = [
            fields
            for _, fields in store.xrange("{grounding}:audits")
            if fields.get("request_id") == "vllm-1"
        ]
    finally:
        store.close()
    assert stored["model"] == "vllm-wrapped" and stored["mode"] == "both", stored
    assert streamed and streamed[-1]["audit_id"] == stored["audit_id"]

    def asked(body: dict[str, Any]) -> str:
        return body["messages"][0]["content"][-1]["text"] if body.get("messages") else ""

    bodies = proxy.chat_bodies()
    production = [
        b for b in bodies if "prompt_logprobs" not in b and b.get("max_tokens") == MAX_TOKENS
    ]
    production = [b for b in production if asked(b) in (QUESTION, SEED_QUESTION)]
    production = [b for b in production if "priority" not in b]
    audits = [b for b in bodies if b not in production]
    assert len(production) == 2, "the two /predict requests, forwarded once each, no priority"
    assert len(audits) >= 4, "the scoring probe, shuffled, blank, no_image and the score rows"
    assert all(body.get("priority") == AUDIT_PRIORITY for body in audits), [
        {k: v for k, v in b.items() if k != "messages"} for b in audits
    ]
    assert any(body.get("prompt_logprobs") == 0 for body in audits), "score-mode requests"


def test_offline_run_against_vllm_equals_the_in_process_run(
    vllm: VllmServer, vllm_model_dir: Path, tmp_path: Path
) -> None:
    """Every item's four conditions, answers and log-probabilities, through vLLM and through
    the project's own transformers runtime on the same checkpoint.

    One documented difference: where greedy decoding stops at ``max_tokens`` in the middle of
    a multi-byte UTF-8 character (a random-weight model emits raw byte tokens), vLLM's
    incremental detokenizer withholds the incomplete bytes and transformers renders them as
    U+FFFD. The score of an audit uses the real output as the assistant's prefill, so an item
    whose real output differs that way is scored after a different prefill; the log-probability
    comparison covers every other item (and must cover most)."""
    manifest = make_phantom(tmp_path / "data", 3, seed=9)

    def run(out: str, *target: str) -> subprocess.CompletedProcess[str]:
        command = [CLI, "run", "--manifest", str(manifest), "--out", str(tmp_path / out)]
        command += ["--no-progress", "--n-boot", "100", "--max-new-tokens", str(MAX_TOKENS)]
        return subprocess.run([*command, *target], capture_output=True, text=True, timeout=600)

    remote = run("r", "--openai-url", f"{vllm.url}/v1", "--concurrency", "2", "--batch-items", "2")
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert "prompt log-probabilities returned" in remote.stderr, remote.stderr[-2000:]
    local = run("l", "--model", str(vllm_model_dir), "--device", "cpu", "--dtype", "float32")
    assert local.returncode == 0, local.stderr[-3000:]

    def rows(out: Path) -> dict[str, dict[str, Any]]:
        lines = (out / "results.jsonl").read_text().splitlines()
        return {row["id"]: row["outcomes"] for row in map(json.loads, lines)}

    remote_rows, local_rows = rows(tmp_path / "r"), rows(tmp_path / "l")
    assert remote_rows.keys() == local_rows.keys()
    assert len(remote_rows) == len(manifest.read_text().splitlines())
    compared = 0
    for item, outcomes in remote_rows.items():
        assert set(outcomes) == {"real", "shuffled", "blank", "no_image"}
        for condition, outcome in outcomes.items():
            theirs, ours = outcome["output"], local_rows[item][condition]["output"]
            assert theirs == ours.rstrip("\ufffd"), (item, condition, theirs, ours)
        if outcomes["real"]["output"] != local_rows[item]["real"]["output"]:
            continue  # scored after a different prefill (see the docstring)
        compared += 1
        for condition, outcome in outcomes.items():
            ours = local_rows[item][condition]["logp"]
            assert abs(outcome["logp"] - ours) <= LOGP_TOLERANCE, (item, condition)
    assert compared >= len(remote_rows) // 2, f"only {compared} items scored alike"

    reports = [json.loads((tmp_path / o / "report.json").read_text()) for o in ("r", "l")]
    overall = [report["metrics"]["overall"] for report in reports]
    assert overall[0]["flip_rate"] == overall[1]["flip_rate"]
    assert overall[0]["accuracy"] == overall[1]["accuracy"]
    assert overall[0]["conditions"] == overall[1]["conditions"]


def test_priority_check_of_a_vllm_started_with_priority(vllm: VllmServer) -> None:
    """What a client can know about a production vLLM (no dev mode): that it is vLLM, not
    its policy; the check says so and how to verify it."""
    check = probe_priority_scheduling(f"{vllm.url}/v1")
    assert check.status == "unverified" and check.server == "vllm 0.32.0", check
    assert "--scheduling-policy priority" in check.message
    assert "VLLM_SERVER_DEV_MODE=1" in check.message
