"""Overload: a bounded number of requests in flight; the next one gets 503 with Retry-After.

The model is held by a blocking double (as Ray Serve's and Triton's queue tests do), behind the
real engine and the real in-flight limit middleware.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import httpx
from fastapi import FastAPI

from audits.contracts.backend import BackendBase, VLMInput
from service.engine.scheduler import InferenceEngine
from service.http.limits import InFlightLimit


class HeldModel(BackendBase):
    model_name = "held"

    def __init__(self) -> None:
        self.release = threading.Event()

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        self.release.wait(timeout=30)
        return [f"answer:{item.question}" for item in items]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def _app(engine: InferenceEngine, limit: int) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        InFlightLimit,
        limit=limit,
        body_limits={"/predict": 1024},
        body_timeout_s=5,
        retry_after_s=3,
    )

    @app.post("/predict")
    async def predict(question: str) -> dict[str, str]:
        return {"answer": await engine.generate(VLMInput(question))}

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return {"ok": 1}

    return app


async def _scenario() -> None:
    model = HeldModel()
    engine = InferenceEngine(model, max_batch_size=2)
    engine.start()
    transport = httpx.ASGITransport(app=_app(engine, limit=3))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        held = [
            asyncio.create_task(client.post("/predict", params={"question": f"q{i}"}))
            for i in range(3)
        ]
        for _ in range(100):  # until all three are inside the limit
            await asyncio.sleep(0.02)
            if engine.production_waiting + 2 >= 3:
                break
        refused = await client.post("/predict", params={"question": "one too many"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert "limit of 3" in refused.json()["detail"]
        assert (await client.get("/stats")).status_code == 200, "other paths are not limited"

        model.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*held), timeout=10)
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert sorted(r.json()["answer"] for r in answers) == [
            "answer:q0",
            "answer:q1",
            "answer:q2",
        ]
        after = await client.post("/predict", params={"question": "later"})
        assert after.status_code == 200
    engine.stop(grace_s=1)


def test_the_request_beyond_the_limit_gets_503_and_the_held_ones_succeed() -> None:
    asyncio.run(_scenario())
