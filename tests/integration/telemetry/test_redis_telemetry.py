"""Redis telemetry as the service core wires it: answering through a Redis outage."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageStat

from audits.contracts.backend import BackendBase, VLMInput
from audits.contracts.types import Condition
from service.core import GroundingCore
from service.settings import Settings
from service.telemetry.redis_store import RedisRecordStore
from tests.support.images import encode
from tests.support.servers import RedisServer, wait_until
from tests.support.telemetry import redis_client, stream_entries


class BrightnessModel(BackendBase):
    """Answers from the image: "yes" for a bright image, "no" otherwise (blank gray is "no")."""

    model_name = "bright"

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        answers = []
        for item in items:
            bright = item.image is not None and ImageStat.Stat(item.image).mean[0] > 140
            answers.append("The image shows an opacity. Answer: yes" if bright else "Answer: no")
        return answers

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [0.0] * len(items)


def _solid_png(level: int) -> bytes:
    return encode(Image.new("RGB", (16, 16), (level, level, level)))


async def test_core_keeps_answering_through_a_redis_outage(redis: RedisServer) -> None:
    settings = Settings(
        redis_url=redis.url,
        model_name="bright",
        sample_rate=1.0,
        audit_mode="generate",
        drift_min_audits=5,
    )
    core = GroundingCore(settings, backend=BrightnessModel())
    assert isinstance(core.store, RedisRecordStore)
    telemetry = core.redis
    assert telemetry is not None
    telemetry.loop.backoff_max_s = 0.2

    async def request(index: int) -> None:
        level = 250 if index % 2 else 20
        production = core.build_request(
            _solid_png(level), "Is there an opacity?", request_id=f"core-{index:03d}"
        )
        response = await core.predict(production)
        assert response.answer == ("yes" if level > 140 else "no")
        core.after_response(production, response)

    for index in range(6):
        await request(index)
    assert wait_until(lambda: len(core.memory.records) == 6, 20, 0.05)
    assert telemetry.flush(10)
    redis.stop()
    for index in range(6, 12):
        await request(index)
    assert wait_until(lambda: len(core.memory.records) == 12, 20, 0.05)
    down = await core.stats()
    assert down["source"] == "local" and down["redis"]["connected"] is False
    assert down["counts"]["audits"] == 12
    redis.start()
    assert telemetry.flush(10)
    stored = stream_entries(redis_client(redis))
    assert [e["request_id"] for e in stored] == [f"core-{i:03d}" for i in range(6, 12)]
    up = await core.stats()
    assert up["source"] == "redis" and up["redis"]["connected"] is True
    assert up["counts"]["audits"] == 6 and up["windows"]["1h"]["IS"]["n"] >= 5
    record = await core.store.get("core-007")
    assert record is not None and record["model"] == "bright"
    shuffled_kept_the_answer = record["flip_shuffled"] == "0"
    assert await core.store.add_feedback("core-007", "yes") == {
        Condition.REAL: True,
        Condition.SHUFFLED: shuffled_kept_the_answer,
        Condition.BLANK: False,
        Condition.NO_IMAGE: False,
    }
    core.shutdown()
    telemetry.close()
