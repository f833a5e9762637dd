"""Slow uploads hold no in-flight slot and get 408 (service/http/limits.py, deadlines.py)."""

from __future__ import annotations

import asyncio
import time

from starlette.types import Message, Receive, Scope, Send

from service.http.limits import InFlightLimit


class Recorder:
    def __init__(self) -> None:
        self.status: int | None = None
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")


def scope() -> Scope:
    return {"type": "http", "path": "/predict", "method": "POST", "headers": []}


def fast_body(data: bytes, *, more_body: bool = False) -> Receive:
    """``data`` at once; with ``more_body`` the client then stalls (a body sent almost whole)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": data, "more_body": more_body}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


def trickle(every_s: float) -> Receive:
    async def receive() -> Message:
        await asyncio.sleep(every_s)
        return {"type": "http.request", "body": b"x", "more_body": True}

    return receive


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await asyncio.sleep(0.05)  # the model's time
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def scenario() -> None:
    limit = InFlightLimit(echo, limit=2, body_limits={"/predict": 1000}, body_timeout_s=1.0)
    slow = [Recorder() for _ in range(4)]  # twice the in-flight limit
    slow_tasks = [asyncio.create_task(limit(scope(), trickle(0.1), r)) for r in slow]
    await asyncio.sleep(0.2)
    normal = [Recorder() for _ in range(6)]
    started = time.monotonic()
    for pair in range(3):  # as many at once as the in-flight limit allows
        calls = [
            limit(scope(), fast_body(b"img%d" % i), normal[i]) for i in (2 * pair, 2 * pair + 1)
        ]
        await asyncio.gather(*calls)
    assert time.monotonic() - started < 0.8, "normal clients did not wait for the slow ones"
    assert [r.status for r in normal] == [200] * 6
    assert [r.body for r in normal] == [b"img%d" % i for i in range(6)]
    await asyncio.gather(*slow_tasks)
    assert [r.status for r in slow] == [408] * 4
    assert b"did not arrive within 1 s" in slow[0].body
    assert limit.in_flight == 0 and limit.receiving == 0

    too_big = Recorder()
    await limit(scope(), fast_body(b"x" * 1001), too_big)
    assert too_big.status == 413


def test_slow_uploads_get_408_and_never_hold_a_slot_from_normal_clients() -> None:
    asyncio.run(scenario())
