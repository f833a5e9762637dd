"""The family checks on an accelerator, in its serving dtype: what only a GPU run can show.

Run by scripts/gpu-check.sh, which names the device and dtype in GROUNDING_TEST_DEVICE and
GROUNDING_TEST_DTYPE (skipped otherwise: on CPU in float32 tests/unit/backends/test_families.py
already checks the same with exact equality).

Tolerances (stated, not tuned to pass):

- float32: batched greedy generation equals one by one exactly; a batched score is within
  1e-3 nats of a plain unpadded forward pass (the CPU test's bound).
- bfloat16 (8 bits of mantissa, relative rounding ~4e-3): padding and batch shape change the
  order of float additions, so a near-tie between two tokens may break the other way. Batched
  generation must equal one by one on at least 3 of the 4 items, and on every item for its
  first generated token; a batched score is within 0.05 nats + 2% of |log p| of the plain pass.
- Production served in the middle of an audit's generation (the engine's decode slices)
  changes no audit output in any dtype: the audit's batch and shapes are the same, so its
  generated text is equal exactly; its scores (rows in chunks, so other padding) are within
  1e-4 (float32) or the bf16 score bound above.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from audits.backends.transformers_runtime import TransformersRuntime, chat_prompt, starts_with_bos
from audits.contracts.backend import VLMInput
from audits.contracts.types import COUNTERFACTUALS
from audits.science.audit_steps import ItemAuditRun, ItemAuditSpec
from reference_models.families.registry import FAMILIES, ensure_family_checkpoint
from service.engine.audit_queue import AuditTask
from service.engine.scheduler import InferenceEngine
from tests.support.images import noise_image
from tests.unit.backends.test_families import ANSWERS, QUESTION, _items

DEVICE = os.environ.get("GROUNDING_TEST_DEVICE")
DTYPE = os.environ.get("GROUNDING_TEST_DTYPE", "auto")
ONLY = [f for f in os.environ.get("GROUNDING_TEST_FAMILIES", "").split(",") if f]

pytestmark = pytest.mark.skipif(
    not DEVICE, reason="device checks run from scripts/gpu-check.sh (GROUNDING_TEST_DEVICE)"
)


@pytest.fixture(scope="module", params=ONLY or sorted(FAMILIES))
def runtime(request: pytest.FixtureRequest, cache_dir: Path) -> TransformersRuntime:
    folder = ensure_family_checkpoint(request.param, cache_dir)
    return TransformersRuntime(folder, device=DEVICE or "cpu", dtype=DTYPE, max_new_tokens=6)


def _low_precision(runtime: TransformersRuntime) -> bool:
    return runtime.dtype in (torch.bfloat16, torch.float16)


def _plain_log_probability(runtime: TransformersRuntime, item: VLMInput, answer: str) -> float:
    """As tests/unit/backends/test_families.py, with every tensor on the runtime's device and
    the image in its dtype."""
    text = chat_prompt(runtime.processor, item) + answer
    images = [[item.image]] if item.image is not None else None
    encoded = runtime.processor(
        text=[text],
        images=images,
        return_tensors="pt",
        add_special_tokens=not starts_with_bos(runtime.tokenizer, text),
    ).to(runtime.device)
    if "pixel_values" in encoded:
        encoded["pixel_values"] = encoded["pixel_values"].to(runtime.dtype)
    answer_ids = runtime.tokenizer(answer, add_special_tokens=False)["input_ids"]
    n = len(answer_ids)
    with torch.inference_mode():
        logits = runtime.model(**encoded).logits[0].float()
    log_probs = torch.log_softmax(logits[-n - 1 : -1], dim=-1)
    ids = torch.tensor(answer_ids, device=log_probs.device)[:, None]
    return float(log_probs.gather(-1, ids).sum())


def test_batched_generation_equals_one_by_one(runtime: TransformersRuntime) -> None:
    items = _items()
    batched = runtime.generate(items)
    alone = [runtime.generate([item])[0] for item in items]
    if not _low_precision(runtime):
        assert batched == alone
        return
    equal = sum(a == b for a, b in zip(batched, alone, strict=True))
    assert equal >= 3, (batched, alone)
    first = [runtime.generate([item], max_new_tokens=1)[0] for item in items]
    assert runtime.generate(items, max_new_tokens=1) == first


def test_batched_score_equals_a_plain_forward_pass(runtime: TransformersRuntime) -> None:
    items = _items()
    scores = runtime.score(items, ANSWERS)
    plain = [_plain_log_probability(runtime, i, a) for i, a in zip(items, ANSWERS, strict=True)]
    assert all(math.isfinite(value) for value in scores)
    for got, want in zip(scores, plain, strict=True):
        bound = 0.05 + 0.02 * abs(want) if _low_precision(runtime) else 1e-3
        assert abs(got - want) <= bound, (got, want, bound)


def test_production_served_inside_an_audit_changes_no_audit_output(
    runtime: TransformersRuntime,
) -> None:
    image, other = noise_image(1), noise_image(2, (80, 60))
    real = runtime.generate([VLMInput(QUESTION, image)])[0]

    def run() -> ItemAuditRun:
        return ItemAuditRun(
            ItemAuditSpec(
                question=QUESTION,
                image=image,
                conditions=COUNTERFACTUALS,
                mode="both",
                shuffled_image=other,
                real_output=real,
            )
        )

    alone = run()
    alone.run_all(runtime)
    engine = InferenceEngine(runtime, audit_rows_per_step=3)
    engine.start()
    sliced, done, stop = run(), [], threading.Event()

    def feed() -> None:
        while not stop.is_set():
            engine.submit_production(VLMInput("Which side?", noise_image(3))).result(timeout=60)

    try:
        engine.submit_audit(AuditTask(steps=sliced.steps(), on_done=done.append))
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        feeder.join(timeout=60)
    finally:
        engine.stop(grace_s=5)
    assert done == [None]
    assert sliced.outputs == alone.outputs
    for condition, want in alone.logps.items():
        # scored rows go in chunks: other padding, so the bf16 score bound applies
        bound = 0.05 + 0.02 * abs(want) if _low_precision(runtime) else 1e-4
        assert abs(sliced.logps[condition] - want) <= bound, (condition, want, bound)
