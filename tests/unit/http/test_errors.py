"""Every refusal the service raises (``service.errors``) maps to one HTTP status, in one place
(``service.http.errors``), on both faces: ``{"detail"}`` and OpenAI's ``{"error"}``."""

from __future__ import annotations

import inspect
import json

import pytest
from starlette.exceptions import HTTPException

from service import errors
from service.engine.audit_queue import AuditQueueFull, EngineStopped
from service.errors import ServiceError
from service.http.errors import (
    STATUS,
    detail_response,
    http_failure,
    openai_response,
    status_of,
)

EXPECTED = {
    errors.MalformedInput: 400,
    errors.Unauthorized: 401,
    errors.NotFound: 404,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidInput: 422,
    errors.UpstreamFailed: 502,
    errors.Overloaded: 503,
    errors.ModelTimedOut: 503,
    errors.UpstreamTimedOut: 504,
    AuditQueueFull: 503,
    EngineStopped: 503,
}


def domain_errors() -> list[type[ServiceError]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, ServiceError) and kind is not ServiceError
    ]


def test_every_domain_error_has_a_status() -> None:
    assert set(domain_errors()) == set(STATUS), "each kind in service.errors is mapped once"


@pytest.mark.parametrize("kind", list(EXPECTED), ids=lambda kind: kind.__name__)
def test_each_domain_error_maps_to_its_status(kind: type[ServiceError]) -> None:
    error = kind("what went wrong")
    assert status_of(error) == EXPECTED[kind]
    response = detail_response(error)
    assert response.status_code == EXPECTED[kind]
    assert json.loads(response.body) == {"detail": "what went wrong"}


def test_headers_tell_the_client_what_to_do() -> None:
    assert http_failure(errors.Unauthorized("no key")).headers == {"WWW-Authenticate": "Bearer"}  # type: ignore[union-attr]
    assert http_failure(AuditQueueFull("full")).headers == {"Retry-After": "1"}  # type: ignore[union-attr]
    assert http_failure(errors.ModelTimedOut("slow")).headers == {"Retry-After": "2"}  # type: ignore[union-attr]
    assert http_failure(errors.NotFound("gone")).headers == {}  # type: ignore[union-attr]


def test_the_openai_face_answers_an_invalid_request_with_400_and_names_the_field() -> None:
    response = openai_response(errors.InvalidInput("n must be 1", field="n"))
    assert response.status_code == 400
    body = json.loads(response.body)["error"]
    assert body == {
        "message": "n must be 1",
        "type": "invalid_request_error",
        "param": "n",
        "code": 400,
    }
    assert openai_response(errors.UpstreamTimedOut("slow")).status_code == 504


def test_framework_refusals_keep_their_status_and_bugs_are_500() -> None:
    assert status_of(HTTPException(405, "method not allowed")) == 405
    assert http_failure(RuntimeError("a bug")) is None
    assert status_of(RuntimeError("a bug")) == 500
    with pytest.raises(RuntimeError):
        openai_response(RuntimeError("a bug"))
