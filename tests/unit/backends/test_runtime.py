"""The transformers runtime on a real checkpoint folder written by the project's builder."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from audits.backends.transformers_runtime import TransformersRuntime
from audits.contracts.backend import GenerationInterrupted, GenerationParams, VLMInput
from audits.science.conditions.image_removal import blank_like
from reference_models.demo_model import write_demo_checkpoint
from tests.support.images import noise_image


@pytest.fixture(scope="module")
def runtime(demo_model_dir: Path) -> TransformersRuntime:
    return TransformersRuntime(demo_model_dir, max_new_tokens=12)


def _items() -> list[VLMInput]:
    image = noise_image(1)
    return [
        VLMInput("Is there a lesion?", image),
        VLMInput("Is there a lesion?", noise_image(2, (80, 60))),
        VLMInput("Is there a lesion?", blank_like(image)),
        VLMInput("Is there a lesion?", None),
    ]


def test_generation_is_deterministic(runtime: TransformersRuntime) -> None:
    items = _items()
    assert runtime.generate(items) == runtime.generate(items)


def test_batched_outputs_equal_one_by_one(runtime: TransformersRuntime) -> None:
    items = _items()
    batched = runtime.generate(items)
    single = [runtime.generate([item])[0] for item in items]
    assert batched == single
    assert len(set(batched)) > 1, "different images should give different outputs"


def test_score_is_finite_and_prefers_the_greedy_answer(runtime: TransformersRuntime) -> None:
    items = _items()
    greedy = runtime.generate(items[:1])[0]
    n_tokens = len(runtime.tokenizer(greedy, add_special_tokens=False)["input_ids"])
    unrelated_ids = runtime.tokenizer("zebra crossing the river", add_special_tokens=False)
    unrelated = runtime.tokenizer.decode((unrelated_ids["input_ids"] * n_tokens)[:n_tokens])
    own, other = runtime.score([items[0], items[0]], [greedy, unrelated])
    assert math.isfinite(own) and math.isfinite(other)
    assert own > other


def test_batched_scores_equal_one_by_one(runtime: TransformersRuntime) -> None:
    items = _items()
    answers = ["yes", "no", "left", "the right side"]
    batched = runtime.score(items, answers)
    single = [runtime.score([i], [a])[0] for i, a in zip(items, answers, strict=True)]
    assert batched == pytest.approx(single, abs=1e-3)


def test_same_seed_gives_byte_identical_checkpoint(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
        }

    first = digest(write_demo_checkpoint(tmp_path / "a", seed=3))
    second = digest(write_demo_checkpoint(tmp_path / "b", seed=3))
    other = digest(write_demo_checkpoint(tmp_path / "c", seed=4))
    assert first == second
    assert "model.safetensors" in first and "chat_template.jinja" in first
    assert first["model.safetensors"] != other["model.safetensors"]


def test_generation_yields_when_asked_and_is_unchanged_otherwise(
    runtime: TransformersRuntime,
) -> None:
    items = _items()
    polls: list[int] = []

    def stop_after_three_steps() -> bool:
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(GenerationInterrupted):
        runtime.generate(items, should_stop=stop_after_three_steps)
    assert len(polls) == 3, "polled once per decoding step, stopped at once"
    assert runtime.generate(items, should_stop=lambda: False) == runtime.generate(items)


def test_detailed_generation_counts_tokens_and_says_why_it_stopped(
    runtime: TransformersRuntime,
) -> None:
    items = _items()
    detailed = runtime.generate_detailed(items, GenerationParams(max_new_tokens=3))
    assert [d.text for d in detailed] == runtime.generate(items, max_new_tokens=3)
    for result in detailed:
        assert 1 <= result.completion_tokens <= 3
        if result.finish_reason == "length":
            assert result.completion_tokens == 3
    no_image = detailed[-1].prompt_tokens
    assert all(d.prompt_tokens > no_image for d in detailed[:-1]), "image tokens count"
