"""A bounded number of requests in flight; beyond it 503 with Retry-After, never a hang."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from service.http.openai_api import error_body


class InFlightLimit:
    def __init__(
        self, app: ASGIApp, *, limit: int, paths: tuple[str, ...], retry_after_s: int = 1
    ) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.retry_after = str(retry_after_s)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            message = f"the service is at its limit of {self.limit} requests in flight"
            openai_path = scope["path"].startswith("/v1/")
            refusal = error_body(503, message) if openai_path else {"detail": message}
            body = json.dumps(refusal).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", self.retry_after.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
