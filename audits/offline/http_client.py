"""The offline runner's ``--url`` path: audit items on a deployed service's ``POST /audit``.

Each item goes out with its own image and its shuffled partner's image (the files' bytes,
base64), so the service never draws a shuffled image from its production pool. Up to
``concurrency`` requests are in flight (a deployment's load balancer spreads them over its
replicas); 429 and 502-504 answers and connection failures are retried, honouring
``Retry-After``. The service's report is turned back into per-condition outcomes; flags and
metrics are computed locally by the same functions as for a local model.

The response shape is ``service.http.interfaces.AuditReport``; only the fields needed here are
declared (``audits`` never imports ``service``).
"""

from __future__ import annotations

import base64
import email.utils
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from audits.contracts.http import AuditReport
from audits.contracts.types import Condition, ConditionOutcome, ItemFlags
from audits.offline.run_records import AuditJob, ItemRecord
from audits.science.flags import compute_flags

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 502, 503, 504})
MISSING = "the service's report has no outcome for this condition"


class AuditRequestError(RuntimeError):
    """The service refused or failed an audit request (not retried, or retries ran out)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _report(payload: AuditReport | Mapping[str, Any] | str | bytes) -> AuditReport:
    if isinstance(payload, AuditReport):
        return payload
    if isinstance(payload, str | bytes):
        return AuditReport.model_validate_json(payload)
    return AuditReport.model_validate(payload)


def outcomes_from_report(
    payload: AuditReport | Mapping[str, Any] | str | bytes,
    conditions: Iterable[Condition] | None = None,
) -> dict[Condition, ConditionOutcome]:
    """Per-condition outcomes (raw output, log-probabilities, skips) of an audit report.

    With ``conditions`` (the counterfactuals that were asked for), the result holds real and
    exactly those, in that order; one the report lacks is marked skipped.
    """
    report = _report(payload)
    found = {
        c.condition: ConditionOutcome(
            condition=c.condition,
            skipped=c.skipped,
            skip_reason=c.skip_reason,
            output=None if c.skipped else c.raw_output,
            logp=None if c.skipped else c.logp,
            option_logps=None if c.skipped else c.option_logps,
        )
        for c in report.conditions
    }
    if conditions is None:
        return found
    order = [Condition.REAL, *(c for c in conditions if c is not Condition.REAL)]
    return {
        c: found.get(c) or ConditionOutcome(condition=c, skipped=True, skip_reason=MISSING)
        for c in order
    }


def flags_from_report(
    payload: AuditReport | Mapping[str, Any] | str | bytes,
    *,
    options: Mapping[str, str] | None = None,
    reference: str | None = None,
    f1_threshold: float | None = None,
    question: str | None = None,
) -> ItemFlags:
    """The item's flags recomputed locally from the report's raw outputs and scores."""
    return compute_flags(
        outcomes_from_report(payload),
        options=options,
        reference=reference,
        f1_threshold=f1_threshold,
        question=question,
    )


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _b64_file(path: str | Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


class HttpAuditClient:
    """An ``audits.offline.run_records.Auditor`` that sends every item to ``POST {url}/audit``."""

    group_size = 1

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 600.0,
        max_retries: int = 8,
        backoff_s: float = 0.5,
        max_wait_s: float = 60.0,
        model_name: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = url.rstrip("/")
        self.model_name = model_name or self.url
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpAuditClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def request_body(job: AuditJob) -> dict[str, Any]:
        """The ``AuditJSON`` body of one job; shuffled is left out when it has no partner."""
        conditions = [
            c for c in job.conditions if c is not Condition.SHUFFLED or job.shuffled_image
        ]
        body: dict[str, Any] = {
            "image_base64": _b64_file(job.item.image),
            "question": job.question,
            "options": job.item.options,
            "mode": job.mode,
            "conditions": [c.value for c in conditions],
        }
        if job.shuffled_image and Condition.SHUFFLED in conditions:
            body["shuffled_image_base64"] = _b64_file(job.shuffled_image)
        return body

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        header = None if response is None else response.headers.get("Retry-After")
        told = retry_after_seconds(header)
        wait = told if told is not None else self.backoff_s * 2**attempt
        return min(wait, self.max_wait_s)

    def post_audit(self, body: dict[str, Any], *, item_id: str = "") -> AuditReport:
        """POST one audit, retrying overload answers and connection failures."""
        for attempt in range(self.max_retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._client.post("/audit", json=body)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise AuditRequestError(f"item {item_id!r}: {exc!r}") from exc
                log.warning("item %r: %r, retrying", item_id, exc)
            else:
                if response.status_code == 200:
                    return AuditReport.model_validate_json(response.content)
                if response.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise self._error(response, item_id)
            self._sleep(self._wait(attempt, response))
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response, item_id: str) -> AuditRequestError:
        detail = response.text[:500]
        hint = " (check --api-key)" if response.status_code in (401, 403) else ""
        return AuditRequestError(
            f"item {item_id!r}: POST /audit answered {response.status_code}{hint}: {detail}",
            status=response.status_code,
        )

    def audit_one(self, job: AuditJob) -> ItemRecord:
        started = time.perf_counter()
        report = self.post_audit(self.request_body(job), item_id=job.item.id)
        outcomes = outcomes_from_report(report, job.conditions)
        if Condition.SHUFFLED in outcomes and not job.shuffled_image:
            outcomes[Condition.SHUFFLED] = ConditionOutcome(
                condition=Condition.SHUFFLED, skipped=True, skip_reason=job.shuffled_skip_reason
            )
        timings = dict(report.timings_ms)
        timings["request"] = (time.perf_counter() - started) * 1000
        return ItemRecord(
            index=job.index,
            id=job.item.id,
            shuffled_partner=job.shuffled_partner if job.shuffled_image else None,
            outcomes=outcomes,
            timings_ms=timings,
        )

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]:
        """Records in job order, with at most ``2 * concurrency`` jobs started ahead."""
        window: deque[Future[ItemRecord]] = deque()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="audit-http") as pool:
            try:
                for job in jobs:
                    window.append(pool.submit(self.audit_one, job))
                    if len(window) >= 2 * self.concurrency:
                        yield window.popleft().result()
                while window:
                    yield window.popleft().result()
            finally:
                for future in window:
                    future.cancel()
