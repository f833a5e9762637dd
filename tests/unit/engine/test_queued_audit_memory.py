"""Queued mirrored audits hold images at the size the model consumes, never the upload, and
the audit queue is bounded in bytes as well as in count (issue 28: 48 uploads of 4000x4000
PNGs with audit=true took a worker from 0.7 GB to 6.4 GB)."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Sequence

from PIL import Image
from prometheus_client import REGISTRY

from audits.contracts.backend import BackendBase, BackendCapabilities, VLMInput
from service.core import GroundingCore
from service.engine.shuffle_pool import image_nbytes
from service.http.interfaces import AuditDecision, PredictResponse
from service.settings import Settings
from tests.support.images import png_bytes

MODEL_PIXELS = 64 * 64
UPLOAD = (1000, 1000)
TASK_BYTES = 3 * image_nbytes(Image.new("RGB", (64, 64)))
"""Real, blank and shuffled image of one queued audit, each at the model's size."""


class SmallImageModel(BackendBase):
    """Consumes at most 64x64 pixels; production answers at once, audit batches (they hold the
    no_image variant) wait until released, so mirrored audits pile up in the queue."""

    model_name = "small-image"
    capabilities = BackendCapabilities(max_image_pixels=MODEL_PIXELS)

    def __init__(self) -> None:
        self.release = threading.Event()
        self.audit_started = threading.Event()
        self.audit_seen: list[tuple[int, int]] = []

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        if any(item.image is None for item in items):
            self.audit_seen += [item.image.size for item in items if item.image is not None]
            self.audit_started.set()
            self.release.wait(timeout=30)
        return ["yes"] * len(items)

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [-1.0] * len(items)


def dropped(model: str, reason: str) -> float:
    labels = {"model": model, "reason": reason}
    return REGISTRY.get_sample_value("grounding_audits_dropped_total", labels) or 0.0


def _core(model: str, queue_bytes: int) -> tuple[GroundingCore, SmallImageModel]:
    settings = Settings(
        redis_url="",
        model_name=model,
        sample_rate=1.0,
        audit_mode="generate",
        audit_queue_size=64,
        audit_queue_bytes=queue_bytes,
        shutdown_grace_s=0.0,
    )
    backend = SmallImageModel()
    return GroundingCore(settings, backend=backend), backend


def _serve(core: GroundingCore, backend: SmallImageModel, seed: int) -> weakref.ref[Image.Image]:
    """A production request with audit=true, answered (the model thread is kept for the
    audits), then mirrored; a weak reference to its decoded upload. The first audit is running
    (and waiting) before this returns, so later ones stay queued."""
    request = core.build_request(png_bytes(seed, UPLOAD), "Is there a lesion?", audit=True)
    decision = AuditDecision(sampled=True, queued=True, reason="forced")
    response = PredictResponse(
        request_id=request.request_id,
        model=core.model,
        answer="yes",
        raw_output="yes",
        audit=decision,
    )
    core.after_response(request, response)
    assert backend.audit_started.wait(10), "the first audit did not start"
    assert request.image is not None and request.image.size == UPLOAD
    return weakref.ref(request.image)


def test_queued_audits_hold_images_at_the_models_size_not_the_uploads() -> None:
    core, backend = _core("qm-size", queue_bytes=64 * TASK_BYTES)
    try:
        uploads = [_serve(core, backend, seed) for seed in range(8)]
        assert core.engine.audit_queue_depth == 7  # the first audit runs (and waits)
        gc.collect()
        assert all(upload() is None for upload in uploads), "a queued audit pins an upload"
        assert core.engine.audit_queue_bytes <= 7 * TASK_BYTES
        assert backend.audit_seen and all(w * h <= MODEL_PIXELS for w, h in backend.audit_seen)
        backend.release.set()
        assert core.memory.wait_for(8, timeout=20), "every queued audit must complete"
    finally:
        backend.release.set()
        core.shutdown()


def test_audits_beyond_the_queues_byte_budget_are_dropped_oldest_first_and_counted() -> None:
    model = "qm-bytes"
    core, backend = _core(model, queue_bytes=5 * TASK_BYTES)
    before = dropped(model, "queue_bytes")
    try:
        for seed in range(12):  # one runs, 11 are queued against a budget of 5 audits
            _serve(core, backend, seed)
        assert core.engine.audit_queue_depth == 5
        assert core.engine.audit_queue_bytes <= 5 * TASK_BYTES
        assert dropped(model, "queue_bytes") - before == 6
        assert dropped(model, "queue_full") == 0
        backend.release.set()
        assert core.memory.wait_for(6, timeout=20), "the running and the queued audits complete"
    finally:
        backend.release.set()
        core.shutdown()
