"""Every VLM family in the README's compatibility table, through the runtime, on CPU.

Each family is a tiny random checkpoint built offline from its own config, model and processor
classes (reference_models/families/). Batched greedy generation must equal one-by-one, and
the runtime's batched teacher-forced score must equal the log-probability a plain forward pass
of prompt + answer gives, one item at a time and unpadded: so left padding, position ids, image
tokens and each family's extra inputs are right.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from audits.backends.transformers_runtime import (
    TransformersRuntime,
    chat_prompt,
    starts_with_bos,
)
from audits.contracts.backend import VLMInput
from audits.science.conditions.image_removal import blank_like
from reference_models.families.registry import FAMILIES, ensure_family_checkpoint
from tests.support.images import noise_image

QUESTION = "Is there a lesion?"
PREFILL = "<think>The scan appears normal.</think>\n"


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def runtime(request: pytest.FixtureRequest, cache_dir: Path) -> TransformersRuntime:
    folder = ensure_family_checkpoint(request.param, cache_dir)
    return TransformersRuntime(folder, max_new_tokens=4)


def _items() -> list[VLMInput]:
    image = noise_image(1)
    return [
        VLMInput(QUESTION, image),
        VLMInput(QUESTION, noise_image(2, (80, 60))),
        VLMInput(QUESTION, None),
        VLMInput(QUESTION, blank_like(image), prefill=PREFILL),
    ]


ANSWERS = ["yes", "the right side", "no", "<answer>no</answer>"]


def plain_log_probability(runtime: TransformersRuntime, item: VLMInput, answer: str) -> float:
    """log p(answer | prompt) from one unpadded forward pass over the prompt + answer text."""
    text = chat_prompt(runtime.processor, item) + answer
    images = [[item.image]] if item.image is not None else None
    encoded = runtime.processor(
        text=[text],
        images=images,
        return_tensors="pt",
        add_special_tokens=not starts_with_bos(runtime.tokenizer, text),
    )
    answer_ids = runtime.tokenizer(answer, add_special_tokens=False)["input_ids"]
    n = len(answer_ids)
    assert encoded["input_ids"][0, -n:].tolist() == answer_ids, "answer tokens cross the seam"
    with torch.inference_mode():
        logits = runtime.model(**encoded.to(runtime.device)).logits[0].float()
    log_probs = torch.log_softmax(logits[-n - 1 : -1], dim=-1)
    return float(log_probs.gather(-1, torch.tensor(answer_ids)[:, None]).sum())


def test_batched_generation_equals_one_by_one(runtime: TransformersRuntime) -> None:
    items = _items()
    batched = runtime.generate(items)
    assert batched == [runtime.generate([item])[0] for item in items]


def test_batched_score_equals_a_plain_forward_pass(runtime: TransformersRuntime) -> None:
    items = _items()
    scores = runtime.score(items, ANSWERS)
    plain = [plain_log_probability(runtime, i, a) for i, a in zip(items, ANSWERS, strict=True)]
    assert all(math.isfinite(value) for value in scores)
    assert scores == pytest.approx(plain, abs=1e-3)


def test_every_prompt_starts_with_one_bos_token(runtime: TransformersRuntime) -> None:
    """Gemma's and Llama's tokenizers add a BOS and their templates write one too: a doubled
    BOS is a prompt the model never saw in training, and every score shifts."""
    bos = runtime.tokenizer.bos_token_id
    if bos is None:
        pytest.skip("this family has no BOS token")
    encoded = runtime._encode(_items())
    for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True):
        real = ids[mask.bool()].tolist()
        assert real.count(bos) <= 1 and (bos not in real or real[0] == bos), real[:6]


def test_the_image_reaches_the_model(runtime: TransformersRuntime) -> None:
    """Without this the equalities above could hold for a model that ignores its image."""
    items = _items()
    same_answer = runtime.score(items[:3], ["yes"] * 3)
    assert len({round(value, 3) for value in same_answer}) == 3, same_answer
