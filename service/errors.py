"""What the service refuses or fails at, said without HTTP.

The core, the engines and the request readers raise these; the HTTP layer maps each kind to its
status code, headers and error body in one place (``service.http.errors``).
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal or failure the caller is told about; ``message`` is what they read."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        """The request field at fault, where one is named (OpenAI's error ``param``)."""


class MalformedInput(ServiceError):
    """The request cannot be read: not JSON, not base64, not an image, truncated or corrupt."""


class InvalidInput(ServiceError):
    """The request reads, but asks for something the service refuses (an empty question, a
    field too long, a mode the model cannot run)."""


class PayloadTooLarge(ServiceError):
    """A body, file or image over its byte or pixel limit."""


class UnsupportedMediaType(ServiceError):
    """A content type or image encoding the service does not read."""


class Unauthorized(ServiceError):
    """No API key, or one that is not valid."""


class NotFound(ServiceError):
    """No such record or model."""


class Overloaded(ServiceError):
    """The service cannot take the work now (queue full, shutting down); retry shortly."""


class ModelTimedOut(ServiceError):
    """The model did not answer within the request's time."""


class UpstreamFailed(ServiceError):
    """The upstream model server refused or failed a production request."""


class UpstreamTimedOut(UpstreamFailed):
    """The upstream model server did not answer a production request in time."""
