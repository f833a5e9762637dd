"""In-flight slots for the model routes: a request takes one only once its whole body has
arrived (within a deadline), so slow uploaders never starve normal clients; beyond the limit
503 with Retry-After, never a hang.

Bodies still arriving are bounded by the memory they hold (``service.http.upload_budget``: bytes
actually arrived, in total and per client address), not by how many there are: a slow uploader
costs only what it has sent, so it cannot take the budget of normal clients.
"""

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
from service.http.upload_budget import UploadBudget, UploadBudgetSpent


class InFlightLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        body_limits: Mapping[str, int],
        body_timeout_s: float,
        upload_budget: UploadBudget | None = None,
        retry_after_s: int = 1,
    ) -> None:
        self.app = app
        self.limit = limit
        self.body_limits = dict(body_limits)
        self.body_timeout_s = body_timeout_s
        self.budget = upload_budget or UploadBudget(4 * limit * max(self.body_limits.values()))
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
        client = _client_address(scope)
        arrived = 0

        def charge(size: int) -> None:
            nonlocal arrived
            self.budget.charge(client, size)
            arrived += size

        self.receiving += 1
        try:
            messages = await read_body_within(receive, body_limit, self.body_timeout_s, charge)
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
        except UploadBudgetSpent as spent:
            await self._refuse(
                scope,
                send,
                503,
                self._budget_message(spent),
                {**self.retry_after, "connection": "close"},
            )
            return
        finally:
            self.receiving -= 1
            self.budget.release(client, arrived)
        if self.in_flight >= self.limit:
            message = f"the service is at its limit of {self.limit} requests in flight"
            await self._refuse(scope, send, 503, message, self.retry_after)
            return
        self.in_flight += 1
        try:
            await self.app(scope, replay(messages, receive), send)
        finally:
            self.in_flight -= 1

    def _budget_message(self, spent: UploadBudgetSpent) -> str:
        if spent.per_client:
            return (
                f"uploads from your address already hold {self.budget.per_client_bytes} bytes "
                "while they arrive; finish or cancel those first, then retry"
            )
        return (
            f"the uploads arriving at the service already hold {self.budget.total_bytes} bytes; "
            "retry shortly"
        )

    @staticmethod
    async def _refuse(
        scope: Scope, send: Send, status: int, message: str, headers: dict[str, str]
    ) -> None:
        """JSON ``{"detail": ...}``, or OpenAI's error object on ``/v1/`` routes."""
        openai_path = scope["path"].startswith("/v1/")
        body = error_body(status, message) if openai_path else {"detail": message}
        await send_json(send, status, body, headers)


def _client_address(scope: Scope) -> str:
    """The peer's address (without the port): uploads of one client share its budget."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
