"""Locust scenarios for the grounding audit service; pick them by tag.

- ``production``: /predict with ``audit=false`` (production traffic only)
- ``mirrored``: /predict with ``audit=true`` on a share of requests (GROUNDING_LOAD_AUDIT_SHARE,
  default 0.3); the rest leave ``audit`` unset, so the server's sample rate decides
- ``audit``: the synchronous /audit endpoint (API key from GROUNDING_LOAD_API_KEY)
- ``mix``: /predict plus /stats and /readyz

    locust --config loadtests/locust.conf --tags production mirrored

Every reply body is checked (``catch_response``): a failure names the status code first
("HTTP 503: ..."), so 5xx replies can be found in the failures CSV.
"""

from __future__ import annotations

import json
import os
import random
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # locust imports this file by path, not as a package module
    sys.path.insert(0, str(REPO))

from locust import HttpUser, between, tag, task  # noqa: E402
from locust.clients import ResponseContextManager  # noqa: E402

from loadtests.payloads import Payload, PayloadPool  # noqa: E402

COUNTERFACTUALS = ("shuffled", "blank", "no_image")
TIMEOUT_S = float(os.environ.get("GROUNDING_LOAD_TIMEOUT_S", "60"))
AUDIT_SHARE = float(os.environ.get("GROUNDING_LOAD_AUDIT_SHARE", "0.3"))
API_KEY = os.environ.get("GROUNDING_LOAD_API_KEY", "local-dev-key")
AUDIT_MODE = os.environ.get("GROUNDING_LOAD_AUDIT_MODE", "both")
WAIT_MIN_S = float(os.environ.get("GROUNDING_LOAD_WAIT_MIN_S", "0.2"))
WAIT_MAX_S = float(os.environ.get("GROUNDING_LOAD_WAIT_MAX_S", "1.0"))

POOL = PayloadPool(n_images=8, seed=int(os.environ.get("GROUNDING_LOAD_SEED", "0")))

Check = Callable[[Any], str | None]
"""Returns what is wrong with a decoded reply body, or None when it is right."""


def finish(response: ResponseContextManager, check: Check) -> None:
    """Mark the request as a success or a failure from its status code and body."""
    if response.status_code == 0:
        response.failure(f"no reply: {type(response.error).__name__}")
        return
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}: {response.text[:120]}")
        return
    try:
        body = response.json()
    except ValueError:
        response.failure("HTTP 200: the body is not JSON")
        return
    problem = check(body)
    if problem:
        response.failure(f"HTTP 200: {problem}")
    else:
        response.success()


def check_prediction(request_id: str | None, audit: bool | None) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the reply is not an object"
        if not isinstance(body.get("answer"), str) or not isinstance(body.get("raw_output"), str):
            return "no answer / raw_output"
        if not body.get("request_id") or (request_id and body["request_id"] != request_id):
            return "request_id not echoed"
        decision = body.get("audit") or {}
        if audit is not None and decision.get("sampled") is not audit:
            return f"audit={audit} was not honoured"
        if decision.get("reason") not in ("forced", "disabled", "sampled", "not_sampled"):
            return "no audit decision"
        return None

    return check


def check_report(conditions: tuple[str, ...], mode: str) -> Check:
    expected = {"real", *conditions}

    def check(body: Any) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("conditions"), list):
            return "no conditions in the report"
        by_name = {entry.get("condition"): entry for entry in body["conditions"]}
        if set(by_name) != expected:
            return f"conditions {sorted(by_name)} != {sorted(expected)}"
        for name, entry in by_name.items():
            if entry.get("skipped"):
                return f"condition {name} was skipped"
            if mode != "generate" and not isinstance(entry.get("logp"), float):
                return f"condition {name} has no logp"
            if mode != "score" and not isinstance(entry.get("raw_output"), str):
                return f"condition {name} has no output"
        if not isinstance(body.get("visual_claim"), bool):
            return "no visual_claim flag"
        return None

    return check


class GroundingUser(HttpUser):
    """One client of the service; tasks carry the scenario tags."""

    host = "http://localhost:3000"
    wait_time = between(WAIT_MIN_S, WAIT_MAX_S)

    def on_start(self) -> None:
        self.rng = random.Random()

    def _predict(self, audit: bool | None, name: str) -> None:
        payload = POOL.pick()
        request_id = f"load-{uuid.uuid4().hex}" if self.rng.random() < 0.8 else None
        check = check_prediction(request_id, audit)
        if self.rng.random() < 0.5:
            self._predict_multipart(payload, audit, request_id, name, check)
        else:
            self._predict_json(payload, audit, request_id, name, check)

    def _predict_multipart(
        self, payload: Payload, audit: bool | None, request_id: str | None, name: str, check: Check
    ) -> None:
        form: dict[str, str] = {"question": payload.question.text}
        if audit is not None:
            form["audit"] = "true" if audit else "false"
        if request_id:
            form["request_id"] = request_id
        if payload.question.options:
            form["options"] = json.dumps(payload.question.options)
        files = {"image": (f"{payload.scan.name}.png", payload.scan.png, "image/png")}
        with self.client.post(
            "/predict",
            data=form,
            files=files,
            name=f"{name} [multipart]",
            timeout=TIMEOUT_S,
            catch_response=True,
        ) as response:
            finish(response, check)

    def _predict_json(
        self, payload: Payload, audit: bool | None, request_id: str | None, name: str, check: Check
    ) -> None:
        body: dict[str, Any] = {
            "image_base64": payload.scan.base64,
            "question": payload.question.text,
        }
        if audit is not None:
            body["audit"] = audit
        if request_id:
            body["request_id"] = request_id
        if payload.question.options:
            body["options"] = payload.question.options
        with self.client.post(
            "/predict", json=body, name=f"{name} [json]", timeout=TIMEOUT_S, catch_response=True
        ) as response:
            finish(response, check)

    @tag("production", "mix")
    @task(6)
    def predict_production(self) -> None:
        self._predict(False, "/predict production")

    @tag("mirrored")
    @task(6)
    def predict_mirrored(self) -> None:
        audit = True if self.rng.random() < AUDIT_SHARE else None
        self._predict(audit, "/predict mirrored")

    @tag("audit")
    @task(2)
    def audit_report(self) -> None:
        payload = POOL.pick()
        body: dict[str, Any] = {
            "image_base64": payload.scan.base64,
            "shuffled_image_base64": POOL.other_scan(payload.scan).base64,
            "question": payload.question.text,
            "mode": AUDIT_MODE,
        }
        if payload.question.options:
            body["options"] = payload.question.options
        with self.client.post(
            "/audit",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
            name="/audit",
            timeout=TIMEOUT_S,
            catch_response=True,
        ) as response:
            finish(response, check_report(COUNTERFACTUALS, AUDIT_MODE))

    @tag("mix")
    @task(1)
    def stats(self) -> None:
        with self.client.get(
            "/stats", name="/stats", timeout=TIMEOUT_S, catch_response=True
        ) as response:
            finish(
                response,
                lambda body: None if isinstance(body, dict) and body else "/stats is empty",
            )

    @tag("mix")
    @task(1)
    def readyz(self) -> None:
        with self.client.get(
            "/readyz", name="/readyz", timeout=TIMEOUT_S, catch_response=True
        ) as response:
            if response.status_code == 200:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: not ready")
