"""API keys (Bearer or X-API-Key, compared in constant time) and the access log."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass

from fastapi import Request
from pydantic import SecretStr

from service.errors import Unauthorized
from service.http.errors import status_of

access_log = logging.getLogger("grounding.access")


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def key_matches(candidate: str, keys: list[SecretStr]) -> bool:
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which key matched
        matched |= hmac.compare_digest(candidate.encode(), key.get_secret_value().encode())
    return matched


def caller_id(key: str | None) -> str:
    """A stable, non-reversible label for the caller; the key itself is never logged."""
    if not key:
        return "anonymous"
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:10]


def endpoint_label(request: Request) -> str:
    """``METHOD /route/{template}``: the route, not the path, so no id lands in the label."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def require_key(request: Request, keys: list[SecretStr]) -> str:
    """The caller's label; a refusal (``Unauthorized``) is written to the access log as well."""
    key = presented_key(request)
    if key is None:
        refusal = Unauthorized(
            "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
        )
        log_access("anonymous", endpoint_label(request), status_of(refusal))
        raise refusal
    if not key_matches(key, keys):
        refusal = Unauthorized("the API key is not valid")
        log_access("invalid-key", endpoint_label(request), status_of(refusal))
        raise refusal
    return caller_id(key)


@dataclass
class AccessEntry:
    who: str
    endpoint: str
    request_id: str | None = None
    status: int = 200


def log_access(who: str, endpoint: str, status: int, request_id: str | None = None) -> None:
    access_log.info(
        json.dumps(
            {
                "ts": round(time.time(), 3),
                "who": who,
                "endpoint": endpoint,
                "status": status,
                "request_id": request_id,
            }
        )
    )
