"""Start-up check of the upstream's request priority: is the audits' lower priority honoured?

vLLM only orders requests by ``priority`` when it was started with ``--scheduling-policy
priority``. Started without it (the default, ``fcfs``), vLLM 0.32 accepts ``"priority": 10`` on
a request with ``200`` and ignores it (measured here), so audits would compete with production on
equal terms and nothing would say so. What a client can see:

- ``GET /version`` answers ``{"version": ...}`` on vLLM: the server is vLLM;
- ``GET /server_info?config_format=json`` returns the engine configuration, scheduler policy
  included, but only on a vLLM started with ``VLLM_SERVER_DEV_MODE=1`` (404 otherwise).

So the check says ``honoured`` or ``ignored`` where the policy is readable, and ``unverified``
(with how to check) where it is not; a failure of the check itself never stops the service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from audits.backends.openai_http import api_base
from service.settings import Settings

log = logging.getLogger(__name__)

PriorityStatus = Literal["honoured", "ignored", "unverified", "not_vllm", "not_sent", "unreachable"]

HOW_TO_CHECK = (
    "check the vLLM command line for --scheduling-policy priority (its start-up log prints "
    "\"non-default args: {... 'scheduling_policy': 'priority'}\"), or start it with "
    "VLLM_SERVER_DEV_MODE=1 so that GET /server_info shows scheduler_config.policy"
)


@dataclass(frozen=True)
class PriorityCheck:
    status: PriorityStatus
    server: str | None
    """``vllm <version>`` when the upstream is vLLM, else None."""
    policy: str | None
    """The scheduler policy the upstream reports (``priority``, ``fcfs``), None if unreadable."""
    message: str


def server_root(url: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000`` (vLLM's own routes live at the root)."""
    return api_base(url)[: -len("/v1")]


def scheduler_policy(server_info: Any) -> str | None:
    """``scheduler_config.policy`` from vLLM's ``/server_info?config_format=json`` body."""
    config = server_info.get("vllm_config") if isinstance(server_info, dict) else None
    scheduler = config.get("scheduler_config") if isinstance(config, dict) else None
    policy = scheduler.get("policy") if isinstance(scheduler, dict) else None
    return str(policy).lower() if policy is not None else None


def _json(response: httpx.Response) -> Any | None:
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def probe_priority_scheduling(
    url: str,
    *,
    api_key: str | None = None,
    priority_field: str = "priority",
    timeout_s: float = 5.0,
) -> PriorityCheck:
    """What can be known from outside about whether ``url`` honours the audits' priority."""
    if not priority_field:
        return PriorityCheck(
            "not_sent", None, None, "no priority field is sent (GROUNDING_UPSTREAM_PRIORITY_FIELD=)"
        )
    root = server_root(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        try:
            version = _json(client.get(f"{root}/version"))
            if not (isinstance(version, dict) and "version" in version):
                return PriorityCheck(
                    "not_vllm",
                    None,
                    None,
                    f"the upstream at {root} is not vLLM (no GET /version): whether it orders "
                    f"requests by {priority_field!r} is not known here; set "
                    "GROUNDING_UPSTREAM_PRIORITY_FIELD= (empty) if it refuses the field",
                )
            info = _json(client.get(f"{root}/server_info", params={"config_format": "json"}))
        except httpx.HTTPError as exc:
            return PriorityCheck(
                "unreachable", None, None, f"the upstream at {root} did not answer: {exc}"
            )
    server = f"vllm {version['version']}"
    policy = scheduler_policy(info)
    if policy == "priority":
        return PriorityCheck(
            "honoured", server, policy, f"{server} schedules by priority: audits yield"
        )
    if policy is not None:
        return PriorityCheck(
            "ignored",
            server,
            policy,
            f"{server} runs scheduling policy {policy!r}: it accepts the audits' "
            f"{priority_field!r} and ignores it, so audits compete with production on equal "
            "terms; restart it with --scheduling-policy priority",
        )
    return PriorityCheck(
        "unverified",
        server,
        None,
        f"{server} does not show its scheduling policy (GET /server_info needs "
        "VLLM_SERVER_DEV_MODE=1); without --scheduling-policy priority vLLM accepts the "
        f"audits' {priority_field!r} and silently ignores it: {HOW_TO_CHECK}",
    )


def check_upstream_priority(settings: Settings) -> PriorityCheck | None:
    """Probe the configured upstream and log the outcome (an error where the priority is
    ignored, a warning where it cannot be verified); None without an upstream. Never raises."""
    if not settings.upstream.url:
        return None
    key = settings.upstream.api_key_value
    try:
        check = probe_priority_scheduling(
            settings.upstream.url, api_key=key, priority_field=settings.upstream.priority_field
        )
    except Exception as exc:  # a probe must never stop the service
        log.warning("upstream priority check failed: %s", exc)
        return None
    level = {
        "ignored": logging.ERROR,
        "unverified": logging.WARNING,
        "unreachable": logging.WARNING,
    }.get(check.status, logging.INFO)
    log.log(level, "upstream priority %s: %s", check.status, check.message)
    return check
