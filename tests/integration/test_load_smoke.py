"""A bounded headless locust run against `bentoml serve` (loopback only): no 5xx, <= 1% failures."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

from audits.contracts.backend import BackendBase, VLMInput
from loadtests.bench_engine import LoadConfig, run_phase, summarize
from loadtests.payloads import phantom_images
from tests.conftest import DEMO_API_KEY
from tests.support.servers import REPO, VENV_BIN, ServedService

USERS = 4
RUN_TIME_S = 20
MIN_REQUESTS = 20
"""4 users, 0.05-0.3 s apart, for 20 s: about 100 requests on 2 idle cores; 20 leaves room for a
busy machine while still proving that every scenario got through."""
MAX_FAILURE_RATIO = 0.01
SERVER_ERROR = re.compile(r"HTTP 5\d\d")
BEARER = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _run_locust(url: str, csv_prefix: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GROUNDING_LOAD_API_KEY": DEMO_API_KEY,
        "GROUNDING_LOAD_WAIT_MIN_S": "0.05",
        "GROUNDING_LOAD_WAIT_MAX_S": "0.3",
        "GROUNDING_LOAD_AUDIT_SHARE": "0.3",
    }
    command = [
        str(VENV_BIN / "locust"),
        "-f",
        str(REPO / "loadtests" / "locustfile.py"),
        "--headless",
        "-u",
        str(USERS),
        "-r",
        str(USERS),
        "-t",
        f"{RUN_TIME_S}s",
        "--stop-timeout",
        "10",
        "--host",
        url,
        "--tags",
        "production",
        "mirrored",
        "mix",
        "--csv",
        str(csv_prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIME_S + 90
    )


def test_headless_locust_smoke_run(demo_service: ServedService, tmp_path: Path) -> None:
    assert demo_service.url.startswith("http://127.0.0.1:")
    prefix = tmp_path / "smoke"
    result = _run_locust(demo_service.url, prefix)
    summary = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode in (0, 1), summary  # 1 only means "some request failed"

    stats = _read_csv(Path(f"{prefix}_stats.csv"))
    failures = _read_csv(Path(f"{prefix}_failures.csv"))
    exceptions = _read_csv(Path(f"{prefix}_exceptions.csv"))
    assert not exceptions, f"the locustfile raised: {exceptions}"

    server_errors = [row for row in failures if SERVER_ERROR.search(row["Error"])]
    assert not server_errors, f"5xx replies under load: {server_errors}"

    total = next(row for row in stats if row["Name"] == "Aggregated")
    requests, failed = int(total["Request Count"]), int(total["Failure Count"])
    assert requests >= MIN_REQUESTS, summary
    assert failed / requests <= MAX_FAILURE_RATIO, f"{failed}/{requests} failed: {failures}"

    served = {row["Name"] for row in stats if int(row["Request Count"] or 0) > 0}
    for endpoint in ("/predict production", "/predict mirrored", "/stats", "/readyz"):
        assert any(name.startswith(endpoint) for name in served), (endpoint, served)
    assert any(name.endswith("[json]") for name in served)
    assert any(name.endswith("[multipart]") for name in served)

    # The audit queue still works after the load: a forced audit completes and is stored.
    request_id = f"smoke-after-load-{uuid.uuid4().hex}"
    forced = httpx.post(
        f"{demo_service.url}/predict",
        files={"image": ("scan.png", phantom_images(1)[0].png, "image/png")},
        data={"question": "Is there a lesion?", "audit": "true", "request_id": request_id},
        timeout=60,
    )
    assert forced.status_code == 200 and forced.json()["audit"]["sampled"] is True
    assert _stored_audit(demo_service.url, request_id) is not None


def _stored_audit(url: str, request_id: str) -> dict[str, str] | None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = httpx.get(f"{url}/audits/{request_id}", headers=BEARER, timeout=10)
        if found.status_code == 200:
            return found.json()["record"]
        time.sleep(0.5)
    return None


class SlowFakeModel(BackendBase):
    """A model double that takes a fixed time per call, batched or not."""

    model_name = "fake"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        time.sleep(self.seconds)
        return ["yes"] * len(items)

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        time.sleep(self.seconds)
        return [-1.0] * len(items)


def test_bench_engine_phase_accounts_for_every_audit() -> None:
    scans = phantom_images(3)
    below = LoadConfig(
        name="below", mirror_rate=1.0, producers=2, think_s=0.05, duration_s=1.5, warmup_s=0.2
    )
    result = summarize(below, [run_phase(SlowFakeModel(0.004), scans, below)])
    assert result.completed > 10 and result.p50_ms >= 4 and result.p99_ms >= result.p50_ms
    # Idle time is left, so every mirrored audit runs (two 4 ms steps) and none is shed.
    assert result.utilization is not None and 0.05 < result.utilization < 0.9
    assert result.audits_submitted > 10 and result.audits_dropped == 0
    assert result.audits_completed + result.audits_left >= result.audits_submitted - 1
    # The timeline splits the busy time and sees production arriving during 4 ms audit steps.
    assert result.production_busy and result.audit_busy and result.audit_busy > 0.02
    assert result.audit_step_p50_ms is not None and 3.5 < result.audit_step_p50_ms < 40
    assert result.arrived_during_audit is not None and 0 < result.arrived_during_audit < 1
    assert result.audit_wait_mean_ms is not None and result.audit_wait_mean_ms <= 40

    saturated = below.model_copy(
        update={"name": "sat", "producers": 12, "think_s": 0.0, "audit_queue_size": 4}
    )
    result = summarize(saturated, [run_phase(SlowFakeModel(0.004), scans, saturated)])
    # Production never leaves the model idle: audits wait in the 4-slot queue and are shed.
    assert result.utilization is not None and result.utilization > 0.9
    # At most the 4 queued plus the one whose step was running, which goes back to the queue.
    assert result.audits_dropped > 0 and result.audits_left <= 5
    assert result.audits_dropped + result.audits_left + result.audits_completed <= (
        result.audits_submitted
    )
    assert result.audit_shed_share == result.audits_dropped / result.audits_submitted
