"""DICOM requests through the service core: modality from the header or the request field, a
chosen frame, and audit records and /stats that carry the modality label and nothing else of
the header."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from PIL import Image

from audits.contracts.backend import BackendBase, VLMInput
from service.core import GroundingCore
from service.settings import Settings
from tests.support.dicom import PHI_ID, PHI_NAME, shipped_bytes, with_patient
from tests.support.images import png_bytes


class BrightnessBackend(BackendBase):
    model_name = "dicom-core"

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [self._answer(item.image) for item in items]

    @staticmethod
    def _answer(image: Image.Image | None) -> str:
        if image is None:
            return "no"
        return (
            "yes" if sum(image.convert("L").getdata()) / image.width / image.height > 60 else "no"
        )

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [-1.0] * len(items)


def _core() -> GroundingCore:
    settings = Settings(
        redis_url="", model_name="dicom-core", sample_rate=1.0, audit_mode="generate"
    )
    return GroundingCore(settings, backend=BrightnessBackend())


def test_modality_comes_from_the_header_unless_the_request_names_one() -> None:
    core = _core()
    try:
        ct = core.build_request(shipped_bytes("CT_small.dcm"), "Is there a lesion?")
        assert ct.modality == "CT"
        assert core.build_request(png_bytes(1), "Is there a lesion?").modality == "unknown"
        assert core.build_request(png_bytes(1), "Lesion?", modality="mr").modality == "MR"
        told = core.build_request(shipped_bytes("CT_small.dcm"), "Lesion?", modality="OT")
        assert told.modality == "other" and told.image_id == ct.image_id
        cine = shipped_bytes("examples_ybr_color.dcm")
        first = core.build_request(cine, "Lesion?", frame=0)
        middle = core.build_request(cine, "Lesion?")
        assert first.image_id != middle.image_id
        assert middle.image_id == core.build_request(cine, "Lesion?", frame=15).image_id
    finally:
        core.shutdown()


def test_audit_records_and_stats_carry_the_modality_and_no_header_value() -> None:
    core = _core()

    async def traffic() -> None:
        for index, data in enumerate(
            [
                with_patient(shipped_bytes("CT_small.dcm")),
                with_patient(shipped_bytes("MR_small.dcm")),
            ]
        ):
            request = core.build_request(data, "Is there a lesion?", request_id=f"d{index}")
            core.after_response(request, await core.predict(request))

    try:
        asyncio.run(traffic())
        assert core.memory.wait_for(2, timeout=20)
        by_id = {record.request_id: record for record in core.memory.records}
        assert (by_id["d0"].modality, by_id["d1"].modality) == ("CT", "MR")
        assert by_id["d0"].question_kind == "closed"
        for record in by_id.values():
            dumped = record.model_dump_json() + str(record.to_redis_fields())
            assert PHI_NAME not in dumped and PHI_ID not in dumped
        stats = asyncio.run(core.stats())
        window = next(iter(stats["windows"].values()))  # type: ignore[attr-defined]
        assert set(window["by_modality"]) == {"CT", "MR"}
        assert all(figures["audits"] == 1 for figures in window["by_modality"].values())
    finally:
        core.shutdown()
