"""In-flight slots for the model routes: a request takes one only once its whole body has
arrived (within a deadline), so slow uploaders never starve normal clients; beyond the limit
503 with Retry-After, never a hang."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from service.http.deadlines import (
    BodyTooLarge,
    declared_length,
    read_body_within,
    replay,
    send_json,
)
from service.http.openai_api import error_body

RECEIVING_PER_SLOT = 4
"""Uploads that may be arriving at once, per in-flight slot (each is buffered in memory)."""


class InFlightLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        body_limits: Mapping[str, int],
        body_timeout_s: float,
        retry_after_s: int = 1,
    ) -> None:
        self.app = app
        self.limit = limit
        self.body_limits = dict(body_limits)
        self.body_timeout_s = body_timeout_s
        self.retry_after = {"retry-after": str(retry_after_s)}
        self.in_flight = 0
        self.receiving = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.body_limits:
            await self.app(scope, receive, send)
            return
        body_limit = self.body_limits[scope["path"]]
        declared = declared_length(scope)
        if declared is not None and declared > body_limit:
            await self.app(scope, receive, send)  # the route refuses it (413) unread
            return
        if self.receiving >= self.limit * RECEIVING_PER_SLOT:
            message = f"the service is at its limit of {self.limit * RECEIVING_PER_SLOT} uploads"
            await self._refuse(scope, send, 503, message, self.retry_after)
            return
        self.receiving += 1
        try:
            messages = await read_body_within(receive, body_limit, self.body_timeout_s)
        except TimeoutError:
            message = (
                f"the request body did not arrive within {self.body_timeout_s:g} s; "
                "send it faster or send a smaller image"
            )
            await self._refuse(scope, send, 408, message, {"connection": "close"})
            return
        except BodyTooLarge:
            message = f"the request body exceeds the limit of {body_limit} bytes"
            await self._refuse(scope, send, 413, message, {"connection": "close"})
            return
        finally:
            self.receiving -= 1
        if self.in_flight >= self.limit:
            message = f"the service is at its limit of {self.limit} requests in flight"
            await self._refuse(scope, send, 503, message, self.retry_after)
            return
        self.in_flight += 1
        try:
            await self.app(scope, replay(messages, receive), send)
        finally:
            self.in_flight -= 1

    @staticmethod
    async def _refuse(
        scope: Scope, send: Send, status: int, message: str, headers: dict[str, str]
    ) -> None:
        """JSON ``{"detail": ...}``, or OpenAI's error object on ``/v1/`` routes."""
        openai_path = scope["path"].startswith("/v1/")
        body = error_body(status, message) if openai_path else {"detail": message}
        await send_json(send, status, body, headers)
