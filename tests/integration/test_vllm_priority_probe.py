"""A misconfigured upstream: a real vLLM started WITHOUT ``--scheduling-policy priority``.

It accepts the audits' ``priority`` with ``200`` and ignores it (nothing in the answer says
so), so the service's start-up check must: with ``VLLM_SERVER_DEV_MODE=1`` the policy is
readable (``GET /server_info``) and the check reports it as ignored, at ERROR level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reference_models.families.registry import ensure_vllm_checkpoint
from service.engine.upstream_probe import check_upstream_priority, probe_priority_scheduling
from service.settings import Settings
from tests.support.servers import VllmServer, start_vllm, vllm_installed

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not vllm_installed(), reason="no vLLM in .venv-vllm: run `make vllm`"),
]


@pytest.fixture(scope="module")
def fcfs_vllm(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    server = start_vllm(
        ensure_vllm_checkpoint(cache_dir),
        tmp_path_factory.mktemp("vllm-fcfs"),
        priority=False,
        dev_mode=True,
    )
    yield server
    server.stop()


def test_vllm_without_priority_policy_accepts_priority_silently(fcfs_vllm: VllmServer) -> None:
    body = {
        "model": fcfs_vllm.model,
        "messages": [{"role": "user", "content": "Is there a lesion?"}],
        "max_tokens": 4,
        "temperature": 0,
    }
    plain = httpx.post(f"{fcfs_vllm.url}/v1/chat/completions", json=body, timeout=120)
    lowered = httpx.post(
        f"{fcfs_vllm.url}/v1/chat/completions", json={**body, "priority": 10}, timeout=120
    )
    assert plain.status_code == 200 and lowered.status_code == 200, lowered.text
    assert lowered.json()["choices"][0]["message"] == plain.json()["choices"][0]["message"]
    assert "priority" not in lowered.text, "and not a word about it"


def test_priority_check_says_the_priority_is_ignored(
    fcfs_vllm: VllmServer, caplog: pytest.LogCaptureFixture
) -> None:
    check = probe_priority_scheduling(f"{fcfs_vllm.url}/v1")
    assert (check.status, check.policy, check.server) == ("ignored", "fcfs", "vllm 0.32.0")
    assert "--scheduling-policy priority" in check.message

    settings = Settings(upstream_url=f"{fcfs_vllm.url}/v1", upstream_model=fcfs_vllm.model)
    with caplog.at_level(logging.INFO, logger="service.engine.upstream_probe"):
        logged = check_upstream_priority(settings)
    assert logged == check
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "ignores it" in errors[0].getMessage(), caplog.text

    unsent = check_upstream_priority(
        Settings(upstream_url=f"{fcfs_vllm.url}/v1", upstream_priority_field="")
    )
    assert unsent is not None and unsent.status == "not_sent"
