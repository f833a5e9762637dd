"""The one map from what the service refuses or fails at (``service.errors``) to HTTP: the
status code, the headers, and the error body of each face (``{"detail"}`` on the service's own
routes, OpenAI's ``{"error"}`` on ``/v1``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.errors import (
    InvalidInput,
    MalformedInput,
    ModelTimedOut,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    ServiceError,
    Unauthorized,
    UnsupportedMediaType,
    UpstreamFailed,
    UpstreamTimedOut,
)
from service.http.openai_api import error_body

STATUS: dict[type[ServiceError], int] = {
    MalformedInput: 400,
    Unauthorized: 401,
    NotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    InvalidInput: 422,
    UpstreamFailed: 502,
    Overloaded: 503,
    ModelTimedOut: 503,
    UpstreamTimedOut: 504,
}
"""Every kind of ``ServiceError``; a subclass (the engine's ``AuditQueueFull``) answers as the
nearest kind it derives from."""

HEADERS: dict[type[ServiceError], dict[str, str]] = {
    Unauthorized: {"WWW-Authenticate": "Bearer"},
    Overloaded: {"Retry-After": "1"},
    ModelTimedOut: {"Retry-After": "2"},
}


@dataclass(frozen=True)
class HttpFailure:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    field: str | None = None


def http_failure(exc: BaseException) -> HttpFailure | None:
    """How an exception is answered; None for one that is no refusal (a bug: 500)."""
    if isinstance(exc, ServiceError):
        kind = next((k for k in type(exc).__mro__ if k in STATUS), None)
        if kind is None:
            return None
        return HttpFailure(STATUS[kind], exc.message, dict(HEADERS.get(kind, {})), exc.field)
    if isinstance(exc, HTTPException):  # raised by the framework itself (routing, forms)
        return HttpFailure(exc.status_code, str(exc.detail), dict(exc.headers or {}))
    return None


def status_of(exc: BaseException) -> int:
    failure = http_failure(exc)
    return 500 if failure is None else failure.status


def detail_response(exc: ServiceError) -> JSONResponse:
    """The service's own routes: ``{"detail": message}``."""
    failure = http_failure(exc) or HttpFailure(500, exc.message)
    return JSONResponse(
        {"detail": failure.message}, status_code=failure.status, headers=failure.headers
    )


def openai_response(exc: Exception) -> JSONResponse:
    """The OpenAI face: OpenAI's error body, with the status the service's routes give, except
    400 for an invalid request (OpenAI and vLLM answer every one with 400). Re-raises an
    exception that is no refusal."""
    failure = http_failure(exc)
    if failure is None:
        raise exc
    status = 400 if failure.status == 422 else failure.status
    return JSONResponse(
        error_body(status, failure.message, failure.field),
        status_code=status,
        headers=failure.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return detail_response(exc)

    app.add_exception_handler(ServiceError, service_error)
