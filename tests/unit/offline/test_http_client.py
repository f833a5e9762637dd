"""The runner's --url client against a fake service (httpx.MockTransport), no model."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from audits.contracts.http import AuditReport, ConditionReport
from audits.contracts.types import Condition
from audits.data.manifest import read_manifest
from audits.data.phantom import ANSWERS, make_phantom
from audits.offline.http_client import (
    MISSING,
    AuditRequestError,
    HttpAuditClient,
    flags_from_report,
    outcomes_from_report,
    retry_after_seconds,
)
from audits.offline.planning import RESULTS_NAME
from audits.offline.run_records import NO_PARTNER, AuditJob, ItemRecord
from audits.offline.runner import run_audit
from service.http.interfaces import AuditJSON

KEY = "secret-key"


def _report(conditions: list[ConditionReport], **extra: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "request_id": "r1",
        "model": "served",
        "image_id": "img",
        "mode": "both",
        "conditions": conditions,
        "claim_spans": [],
        "visual_claim": False,
        "image_invariant": True,
        "hvr": False,
        "modality_skeptic": False,
        "timings_ms": {"generate": 12.5},
    }
    fields.update(extra)
    return AuditReport.model_validate(fields).model_dump(mode="json")


def test_outcomes_and_flags_are_rebuilt_from_the_raw_outputs() -> None:
    payload = _report(
        [
            ConditionReport(
                condition=Condition.REAL,
                raw_output="<think>A nodule is seen in the left lung.</think>Answer: yes",
                logp=-1.0,
                answer="yes",
            ),
            # the service's own flip/answer fields are ignored: flags are recomputed here
            ConditionReport(
                condition=Condition.SHUFFLED, raw_output="Answer: no", logp=-4.0, flip=False
            ),
            ConditionReport(condition=Condition.BLANK, raw_output="Answer: yes", logp=-1.5),
            ConditionReport(condition=Condition.NO_IMAGE, skipped=True, skip_reason="disabled"),
        ]
    )
    outcomes = outcomes_from_report(payload)
    assert outcomes[Condition.SHUFFLED].output == "Answer: no"
    assert outcomes[Condition.NO_IMAGE].skipped
    assert outcomes[Condition.NO_IMAGE].skip_reason == "disabled"
    flags = flags_from_report(json.dumps(payload), reference="yes")
    assert flags.flips == {Condition.SHUFFLED: True, Condition.BLANK: False}
    assert flags.delta_logp == {Condition.SHUFFLED: 3.0, Condition.BLANK: 0.5}
    assert flags.image_invariant is False and flags.hvr is False
    assert flags.visual_claim
    assert flags.correct == {Condition.REAL: True, Condition.SHUFFLED: False, Condition.BLANK: True}
    assert flags.skipped == {Condition.NO_IMAGE: "disabled"}


def test_asked_conditions_missing_from_the_report_are_skipped() -> None:
    payload = _report([ConditionReport(condition=Condition.REAL, raw_output="yes")])
    outcomes = outcomes_from_report(payload, [Condition.BLANK, Condition.SHUFFLED])
    assert list(outcomes) == [Condition.REAL, Condition.BLANK, Condition.SHUFFLED]
    assert outcomes[Condition.BLANK].skipped and outcomes[Condition.BLANK].skip_reason == MISSING


def test_retry_after_takes_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(
        format_datetime(now + timedelta(seconds=10), usegmt=True), now=now
    ) == pytest.approx(10.0)
    assert retry_after_seconds(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def _answer_for(image_b64: str, question: str = "") -> str:
    """One of the question's admissible answers (the phantom's closed sets), by image hash."""
    answers = next((pair for q, pair in ANSWERS.items() if q == question), ("no", "yes"))
    return answers[hashlib.sha256(base64.b64decode(image_b64)).digest()[0] % 2]


class FakeService:
    """POST /audit of a service that answers from a hash of the image it gets."""

    def __init__(self, *, overload_first: int = 0, retry_after: str | None = "0") -> None:
        self.requests: list[AuditJSON] = []
        self.overload_first = overload_first
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.calls += 1
            calls = self.calls
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json={"detail": "bad key"})
        if calls <= self.overload_first:
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return httpx.Response(503, json={"detail": "busy"}, headers=headers)
        body = AuditJSON.model_validate_json(request.content)
        with self.lock:
            self.requests.append(body)
        images = {Condition.REAL: body.image_base64, Condition.SHUFFLED: body.shuffled_image_base64}
        conditions = [ConditionReport(condition=Condition.REAL)]
        conditions += [ConditionReport(condition=c) for c in body.conditions or []]
        for report in conditions:
            image = images.get(report.condition)
            answer = _answer_for(image, body.question) if image else "no"
            report.raw_output = f"Answer: {answer}"
            report.logp = -float(len(report.raw_output))
        return httpx.Response(200, json=_report(conditions))


def _client(service: FakeService, **kwargs: object) -> HttpAuditClient:
    sleeps: list[float] = []
    client = HttpAuditClient(
        "http://audit.test/",
        api_key=KEY,
        transport=httpx.MockTransport(service),
        sleep=sleeps.append,
        **kwargs,  # type: ignore[arg-type]
    )
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom(tmp_path_factory.mktemp("phantom"), 5, 2)


def _job(manifest: Path, index: int = 0, partner: int | None = 3) -> AuditJob:
    items = read_manifest(manifest)
    return AuditJob(
        index=index,
        item=items[index],
        question=items[index].question,
        conditions=(Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE),
        mode="both",
        shuffled_image=None if partner is None else items[partner].image,
        shuffled_partner=None if partner is None else items[partner].id,
    )


def test_a_job_sends_both_images_and_comes_back_as_a_record(phantom: Path) -> None:
    service = FakeService()
    job = _job(phantom)
    with _client(service) as client:
        record = client.audit_one(job)
    (sent,) = service.requests
    assert base64.b64decode(sent.image_base64) == Path(job.item.image).read_bytes()
    assert sent.shuffled_image_base64 is not None
    assert base64.b64decode(sent.shuffled_image_base64) == Path(job.shuffled_image).read_bytes()
    assert sent.conditions == [Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE]
    assert sent.reference_answer is None
    assert list(record.outcomes) == [Condition.REAL, *sent.conditions]
    expected = f"Answer: {_answer_for(sent.shuffled_image_base64, sent.question)}"
    assert record.outcomes[Condition.SHUFFLED].output == expected
    assert record.shuffled_partner == job.shuffled_partner
    assert record.timings_ms["generate"] == 12.5 and record.timings_ms["request"] >= 0


def test_without_a_partner_shuffled_is_not_asked_for_but_skipped_locally(phantom: Path) -> None:
    service = FakeService()
    with _client(service) as client:
        record = client.audit_one(_job(phantom, partner=None))
    assert service.requests[0].conditions == [Condition.BLANK, Condition.NO_IMAGE]
    assert service.requests[0].shuffled_image_base64 is None
    shuffled = record.outcomes[Condition.SHUFFLED]
    assert shuffled.skipped and shuffled.skip_reason == NO_PARTNER


def test_overload_answers_are_retried_honouring_retry_after(phantom: Path) -> None:
    service = FakeService(overload_first=2, retry_after="7")
    with _client(service, max_wait_s=60) as client:
        record = client.audit_one(_job(phantom))
        assert client.sleeps == [7.0, 7.0]  # type: ignore[attr-defined]
    assert service.calls == 3 and record.outcomes[Condition.REAL].output


def test_backoff_without_retry_after_and_giving_up(phantom: Path) -> None:
    service = FakeService(overload_first=100, retry_after=None)
    with _client(service, max_retries=3, backoff_s=0.5) as client:
        with pytest.raises(AuditRequestError) as caught:
            client.audit_one(_job(phantom))
        assert client.sleeps == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]
    assert caught.value.status == 503 and service.calls == 4


def test_a_bad_key_fails_at_once(phantom: Path) -> None:
    service = FakeService()
    client = HttpAuditClient(
        "http://audit.test", api_key="wrong", transport=httpx.MockTransport(service)
    )
    with pytest.raises(AuditRequestError, match="api-key") as caught:
        client.audit_one(_job(phantom))
    assert caught.value.status == 401 and service.calls == 1


def test_connection_failures_are_retried(phantom: Path) -> None:
    attempts = []

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return FakeService()(request)

    client = HttpAuditClient(
        "http://audit.test", api_key=KEY, transport=httpx.MockTransport(flaky), sleep=lambda s: None
    )
    record = client.audit_one(_job(phantom))
    assert len(attempts) == 3 and record.outcomes[Condition.BLANK].output


def test_records_come_back_in_job_order_with_bounded_concurrency(phantom: Path) -> None:
    in_flight, peak, started = 0, 0, 0
    lock = threading.Lock()
    service = FakeService()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak, started
        with lock:
            in_flight += 1
            started += 1
            peak = max(peak, in_flight)
            first = started == 1
        time.sleep(0.1 if first else 0.01)  # the first job finishes after later ones
        try:
            return service(request)
        finally:
            with lock:
                in_flight -= 1

    client = HttpAuditClient(
        "http://audit.test", api_key=KEY, concurrency=3, transport=httpx.MockTransport(slow)
    )
    n = len(read_manifest(phantom))
    jobs = [_job(phantom, i, partner=(i + 1) % n) for i in range(n)]
    records: list[ItemRecord] = list(client.audit(jobs))
    assert [r.index for r in records] == list(range(n))
    assert 1 < peak <= 3


def test_run_audit_through_the_client_writes_the_reports(phantom: Path, tmp_path: Path) -> None:
    service = FakeService()
    with _client(service, concurrency=4) as client:
        result = run_audit(phantom, client, tmp_path, progress=False, n_boot=50)
        again = run_audit(phantom, client, tmp_path, progress=False, n_boot=50)
    items = read_manifest(phantom)
    assert result.metrics.overall.n_items == len(items) == len(service.requests)
    for sent in service.requests:
        assert sent.shuffled_image_base64 is not None
        assert base64.b64decode(sent.shuffled_image_base64) != base64.b64decode(sent.image_base64)
    lines = (tmp_path / RESULTS_NAME).read_text().splitlines()
    assert len(lines) == len(items)
    assert all(len(ItemRecord.model_validate_json(x).outcomes) == 4 for x in lines)
    assert (again.ran, again.resumed) == (0, len(items))
    flips = result.metrics.overall.image_sensitivity
    assert flips is not None and flips.n == len(items)
