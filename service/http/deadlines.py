"""Upload deadlines: request headers and bodies must arrive in time, or the client gets 408.

- Headers: uvicorn (which BentoML runs) waits for request headers without a limit. The protocol
  below (uvicorn's h11 protocol, which BentoML's uvicorn uses when httptools is not installed)
  starts a timer when the first byte of a request arrives and answers ``408`` and closes the
  connection if the headers are not complete within ``header_timeout_s``.
- Bodies: ``read_body_within`` reads the whole body of a request within ``body_timeout_s`` and
  ``body_limit`` bytes, before anything that holds a scarce resource (an in-flight slot) runs;
  ``service.http.limits.InFlightLimit`` uses it, so a slow uploader holds no slot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http import auto
from uvicorn.protocols.http.h11_impl import H11Protocol


def _error(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the headers of every request."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def, override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()  # a connection that never sends a byte is cut off too

    def data_received(self, data: bytes) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self._arm_header_timer()  # bytes of a new request: its headers are on the clock
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # h11 parsed a whole request head
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not (self.cycle is None or self.cycle.response_complete):
            return
        detail = f"the request headers did not arrive within {self.header_timeout_s:g} s"
        self.transport.write(_error(408, "Request Timeout", detail))
        self.transport.close()


def install_header_deadline(timeout_s: float) -> None:
    """Make uvicorn's ``http="auto"`` use the protocol above (BentoML builds the uvicorn config
    after it imports the service module)."""
    HeaderDeadlineProtocol.header_timeout_s = timeout_s
    auto.AutoHTTPProtocol = HeaderDeadlineProtocol  # type: ignore[misc]


class BodyTooLarge(Exception):
    pass


async def read_body_within(
    receive: Receive,
    limit: int,
    timeout_s: float,
    on_bytes: Callable[[int], None] | None = None,
) -> list[Message]:
    """Every ``http.request`` message of the body, within ``timeout_s`` and ``limit`` bytes.

    Raises ``TimeoutError`` when the body is late and ``BodyTooLarge`` past the limit; a client
    that disconnects ends the list with its ``http.disconnect`` message. ``on_bytes`` is told
    the size of each chunk as it arrives (an upload budget), and may raise to stop the read.
    """
    messages: list[Message] = []
    size = 0
    async with asyncio.timeout(timeout_s):
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            chunk = len(message.get("body", b""))
            size += chunk
            if size > limit:
                raise BodyTooLarge
            if on_bytes is not None and chunk:
                on_bytes(chunk)
            if not message.get("more_body", False):
                return messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out the buffered body first, then the client's own."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def send_json(send: Send, status: int, document: object, headers: dict[str, str]) -> None:
    body = json.dumps(document).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None
