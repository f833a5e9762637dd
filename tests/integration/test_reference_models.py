"""The reference models: the grounded one reads the image, the text-only one cannot.

Both are trained once per session (or reused from ``$GROUNDING_CACHE_DIR``) by the project's
own ``ensure_reference_model``; these tests judge them only through the serving runtime.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audits.backends.transformers_runtime import TransformersRuntime
from audits.contracts.backend import VLMInput
from audits.data.manifest import read_manifest
from audits.data.phantom import make_phantom
from audits.science.answer_extraction import final_answer
from audits.science.conditions.image_removal import seeded_derangement
from audits.science.parsing import normalize_answer
from reference_models.training import (
    REPORT_NAME,
    TrainReport,
    train_reference_model,
)
from reference_models.training_examples import load_examples
from service.reference.prepare import ensure_reference_model
from service.reference.shipped import model_folder_name

pytestmark = pytest.mark.slow

SHUFFLE_SEED = 11


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """One thread: as fast on 2 idle cores, and many times faster when the cores are shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _greedy(runtime: TransformersRuntime, inputs: Sequence[VLMInput]) -> list[str]:
    outputs: list[str] = []
    for start in range(0, len(inputs), 64):
        outputs += runtime.generate(inputs[start : start + 64], max_new_tokens=4)
    return [final_answer(output) for output in outputs]


def _held_out_behaviour(model_dir: Path, heldout: Path) -> dict[str, float]:
    """Accuracy, majority baseline and IS (answer flips under a seeded image derangement)."""
    examples = load_examples(heldout)
    runtime = TransformersRuntime(model_dir, device="cpu", dtype="float32", max_new_tokens=4)
    partners = seeded_derangement([e.image_key for e in examples], SHUFFLE_SEED)
    real = _greedy(runtime, [VLMInput(e.question, e.image) for e in examples])
    shuffled = _greedy(
        runtime,
        [VLMInput(e.question, examples[p].image) for e, p in zip(examples, partners, strict=True)],
    )
    truth = [normalize_answer(e.answer) for e in examples]
    per_question: dict[str, Counter[str]] = {}
    for example, answer in zip(examples, truth, strict=True):
        per_question.setdefault(example.question, Counter())[answer] += 1
    majority_hits = sum(max(counter.values()) for counter in per_question.values())
    n = len(examples)
    return {
        "accuracy": sum(a == t for a, t in zip(real, truth, strict=True)) / n,
        "majority": majority_hits / n,
        "is": sum(a != b for a, b in zip(real, shuffled, strict=True)) / n,
    }


def test_grounded_model_answers_from_the_image(grounded_model_dir: Path, phantom_data) -> None:
    behaviour = _held_out_behaviour(grounded_model_dir, phantom_data.heldout)
    assert behaviour["accuracy"] >= 0.90, behaviour
    assert behaviour["is"] >= 0.30, behaviour


def test_text_only_model_ignores_the_image(text_only_model_dir: Path, phantom_data) -> None:
    behaviour = _held_out_behaviour(text_only_model_dir, phantom_data.heldout)
    assert behaviour["is"] <= 0.02, behaviour
    assert abs(behaviour["accuracy"] - behaviour["majority"]) <= 0.05, behaviour


def test_training_reports_describe_the_models(
    grounded_model_dir: Path, text_only_model_dir: Path
) -> None:
    grounded = TrainReport.model_validate_json((grounded_model_dir / REPORT_NAME).read_text())
    text_only = TrainReport.model_validate_json((text_only_model_dir / REPORT_NAME).read_text())
    assert (grounded.kind, grounded.blank) == ("grounded", False)
    assert (text_only.kind, text_only.blank) == ("text_only", True)
    assert grounded.heldout.accuracy > text_only.heldout.accuracy + 0.3
    assert grounded.heldout.image_sensitivity > text_only.heldout.image_sensitivity + 0.25
    assert grounded.heldout.images == 300 and grounded.train_images == 3000
    assert grounded.final_loss < text_only.final_loss


def test_reasoner_reports_describe_reasoning_models(
    grounded_reasoner_dir: Path, shortcut_reasoner_dir: Path, blind_reasoner_dir: Path
) -> None:
    reports = {
        path.name.split("-")[0]: TrainReport.model_validate_json((path / REPORT_NAME).read_text())
        for path in (grounded_reasoner_dir, shortcut_reasoner_dir, blind_reasoner_dir)
    }
    grounded = reports["grounded_reasoner"]
    shortcut = reports["shortcut_reasoner"]
    blind = reports["blind_reasoner"]
    assert (grounded.reasoning, shortcut.reasoning, blind.reasoning) == (
        "grounded",
        "shortcut",
        "grounded",
    )
    assert blind.blank and blind.image_pathway_pinned and not shortcut.blank
    for report in reports.values():
        # tens of tokens of reasoning with visual claims, from every model
        assert report.heldout.mean_output_tokens >= 20, report.heldout
        assert report.heldout.visual_claim_rate >= 0.9, report.heldout
        assert report.heldout.skeptic_rows > 0
    assert grounded.heldout.image_sensitivity >= 0.3
    assert shortcut.heldout.image_sensitivity <= 0.05
    assert blind.heldout.image_sensitivity <= 0.05
    assert shortcut.heldout.modality_skeptic_rate >= 0.9
    assert grounded.heldout.modality_skeptic_rate <= 0.1


def test_reasoner_training_is_seeded_and_writes_reasoning_targets(tmp_path: Path) -> None:
    manifest = make_phantom(tmp_path / "data", n_images=24, seed=5)
    for name in ("first", "second"):
        train_reference_model(
            manifest, tmp_path / name, kind="shortcut_reasoner", steps=4, seed=0, progress=False
        )
    first = load_file(tmp_path / "first" / "model.safetensors")
    second = load_file(tmp_path / "second" / "model.safetensors")
    assert all((first[key] == second[key]).all() for key in first)
    report = TrainReport.model_validate_json((tmp_path / "first" / REPORT_NAME).read_text())
    assert report.kind == "shortcut_reasoner" and report.reasoning == "shortcut"


def test_served_checkpoint_is_complete(grounded_model_dir: Path) -> None:
    expected = {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"}
    assert expected <= {path.name for path in grounded_model_dir.iterdir()}
    config = json.loads((grounded_model_dir / "config.json").read_text())
    assert config["text_config"]["hidden_size"] == 128
    assert not list(grounded_model_dir.parent.glob(".*.tmp-*"))


def test_same_seed_gives_same_weights(tmp_path: Path) -> None:
    manifest = make_phantom(tmp_path / "data", n_images=24, seed=5)
    weights = []
    for name in ("first", "second", "other-seed"):
        seed = 1 if name == "other-seed" else 0
        train_reference_model(
            manifest, tmp_path / name, kind="grounded", steps=6, seed=seed, progress=False
        )
        weights.append(load_file(tmp_path / name / "model.safetensors"))
    first, second, other = weights
    assert first.keys() == second.keys()
    assert all((first[key] == second[key]).all() for key in first)
    assert any((first[key] != other[key]).any() for key in first)
    report = TrainReport.model_validate_json((tmp_path / "first" / REPORT_NAME).read_text())
    all_images = {row.image for row in read_manifest(manifest)}
    assert report.train_images + report.heldout.images == len(all_images)
    assert report.steps == 6 and report.heldout_manifest is None


def test_random_reference_model_is_built_once(tmp_path: Path) -> None:
    first = ensure_reference_model("random", tmp_path)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    again = ensure_reference_model("random", tmp_path)
    assert again == first == tmp_path / "models" / model_folder_name("random", 0)
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="unknown reference model"):
        ensure_reference_model("huge", tmp_path)  # type: ignore[arg-type]
