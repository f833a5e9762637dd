"""Uploads still arriving are bounded by the bytes they hold, in total and per client address
(service/http/upload_budget.py), so slow uploaders cannot take the budget of normal clients.

Issue 28: with the in-flight limit at 4, 16 slow uploaders (4 x the limit) made every normal
/predict get 503, because the budget counted uploads, not bytes.
"""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Receive, Scope

from service.http.limits import InFlightLimit
from service.http.upload_budget import UploadBudget, UploadBudgetSpent
from tests.unit.http.test_upload_deadlines import Recorder, echo, fast_body, trickle


def scope(client: str = "10.0.0.9") -> Scope:
    return {
        "type": "http",
        "path": "/predict",
        "method": "POST",
        "headers": [],
        "client": (client, 50000),
    }


def stalled(first: bytes) -> Receive:
    """A body sent almost whole at once, then nothing (until the deadline)."""
    return fast_body(first, more_body=True)


def test_sixteen_slow_uploaders_at_limit_four_leave_normal_clients_answered() -> None:
    async def scenario() -> None:
        limit = InFlightLimit(echo, limit=4, body_limits={"/predict": 5000}, body_timeout_s=1.5)
        slow = [Recorder() for _ in range(16)]  # four times the in-flight limit
        slow_tasks = [
            asyncio.create_task(limit(scope(f"10.1.0.{i}"), trickle(0.05), r))
            for i, r in enumerate(slow)
        ]
        await asyncio.sleep(0.2)
        assert limit.receiving == 16
        normal = [Recorder() for _ in range(12)]
        for start in range(0, 12, 4):  # as many at once as the in-flight limit allows
            await asyncio.gather(
                *(
                    limit(scope(), fast_body(b"img%d" % i), normal[i])
                    for i in range(start, start + 4)
                )
            )
        assert [r.status for r in normal] == [200] * 12
        await asyncio.gather(*slow_tasks)
        assert [r.status for r in slow] == [408] * 16
        assert limit.budget.held == 0

    asyncio.run(scenario())


def test_one_client_holds_at_most_its_share_and_others_are_still_answered() -> None:
    async def scenario() -> None:
        budget = UploadBudget(total_bytes=10_000, per_client_bytes=1000)
        limit = InFlightLimit(
            echo, limit=4, body_limits={"/predict": 5000}, body_timeout_s=1.0, upload_budget=budget
        )
        hog = [Recorder() for _ in range(3)]
        hog_tasks = [
            asyncio.create_task(limit(scope("10.6.6.6"), stalled(b"x" * 400), r)) for r in hog
        ]
        await asyncio.sleep(0.2)  # two fit the share; the third does not
        assert [r.status for r in hog].count(503) == 1
        refused = next(r for r in hog if r.status == 503)
        assert b"uploads from your address already hold 1000 bytes" in refused.body
        assert budget.held_by("10.6.6.6") == 800
        normal = Recorder()
        await limit(scope("10.0.0.1"), fast_body(b"x" * 900), normal)
        assert normal.status == 200
        await asyncio.gather(*hog_tasks)
        assert sorted(r.status for r in hog) == [408, 408, 503]
        assert budget.held == 0

    asyncio.run(scenario())


def test_bodies_beyond_the_total_budget_get_503_with_retry_after() -> None:
    async def scenario() -> None:
        budget = UploadBudget(total_bytes=1000, per_client_bytes=1000)
        limit = InFlightLimit(
            echo, limit=4, body_limits={"/predict": 5000}, body_timeout_s=1.0, upload_budget=budget
        )
        held = [Recorder(), Recorder()]
        tasks = [
            asyncio.create_task(limit(scope(f"10.2.0.{i}"), stalled(b"x" * 450), r))
            for i, r in enumerate(held)
        ]
        await asyncio.sleep(0.2)
        late = Recorder()
        await limit(scope("10.3.0.1"), fast_body(b"x" * 200), late)
        assert late.status == 503
        assert b"already hold 1000 bytes; retry shortly" in late.body
        small = Recorder()
        await limit(scope("10.3.0.2"), fast_body(b"x" * 50), small)
        assert small.status == 200  # what still fits is answered
        await asyncio.gather(*tasks)
        assert budget.held == 0

    asyncio.run(scenario())


def test_the_budget_counts_nothing_it_refuses() -> None:
    budget = UploadBudget(total_bytes=100, per_client_bytes=60)
    budget.charge("a", 60)
    with pytest.raises(UploadBudgetSpent) as spent:
        budget.charge("a", 1)
    assert spent.value.per_client
    budget.charge("b", 40)
    with pytest.raises(UploadBudgetSpent) as spent:
        budget.charge("c", 1)
    assert not spent.value.per_client
    assert budget.held == 100
    budget.release("a", 60)
    budget.release("b", 40)
    assert budget.held == 0 and budget.held_by("a") == 0
