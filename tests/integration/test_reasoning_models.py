"""Known answers for the hallucinated-reasoning flags: three reference reasoners with known
behaviour, judged only through the offline suite (the same code as the service's audits).

- grounded reasoner: reasoning describes the image, the answer follows it;
- shortcut reasoner: the same fluent visual reasoning, a constant answer per question;
- blind reasoner: trained on gray blanks, writes reasoning it cannot have seen.

Held-out phantom images (another seed than training), generate and score modes. The models are
the shipped weights (models/reference/): the margins below hold for three training seeds
(scripts/reference_seeds.py; figures in docs/reference-models.md), so a CPU that computes the
last bits differently cannot cross them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audits.backends.transformers_runtime import TransformersRuntime
from audits.contracts.types import Condition
from audits.data.phantom_reasoning import write_skeptic_manifest
from audits.offline.runner import AuditRunResult, run_audit
from audits.science.conditions import registered_names
from audits.science.metrics import BenchmarkMetrics

pytestmark = pytest.mark.slow

HELDOUT_ITEMS = 120
SKEPTIC_ITEMS = 40
REASONING_TOKENS = 80


def _audit(
    model_dir: Path,
    manifest: Path,
    out: Path,
    limit: int,
    conditions: tuple[str, ...] | None = None,
) -> BenchmarkMetrics:
    runtime = TransformersRuntime(
        model_dir, device="cpu", dtype="float32", max_new_tokens=REASONING_TOKENS
    )
    result: AuditRunResult = run_audit(
        manifest,
        runtime,
        out,
        limit=limit,
        batch_items=24,
        progress=False,
        n_boot=200,
        conditions=conditions,
    )
    return result.metrics.overall


@pytest.fixture(scope="module")
def heldout(cache_dir: Path) -> Path:
    from reference_models.phantom_data import ensure_phantom_data

    return ensure_phantom_data(cache_dir).heldout


@pytest.fixture(scope="module")
def skeptic_manifest(heldout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_skeptic_manifest(heldout, tmp_path_factory.mktemp("skeptic") / "manifest.jsonl")


@pytest.fixture(scope="module")
def grounded(grounded_reasoner_dir: Path, heldout: Path, tmp_path_factory) -> BenchmarkMetrics:
    out = tmp_path_factory.mktemp("g")
    return _audit(grounded_reasoner_dir, heldout, out, HELDOUT_ITEMS, registered_names())


@pytest.fixture(scope="module")
def shortcut(shortcut_reasoner_dir: Path, heldout: Path, tmp_path_factory) -> BenchmarkMetrics:
    out = tmp_path_factory.mktemp("s")
    return _audit(shortcut_reasoner_dir, heldout, out, HELDOUT_ITEMS, registered_names())


@pytest.fixture(scope="module")
def blind(blind_reasoner_dir: Path, heldout: Path, tmp_path_factory) -> BenchmarkMetrics:
    return _audit(blind_reasoner_dir, heldout, tmp_path_factory.mktemp("b"), HELDOUT_ITEMS)


def _value(rate) -> float:
    assert rate is not None
    return rate.value


def test_grounded_reasoner_is_as_image_sensitive_as_the_oracle(grounded: BenchmarkMetrics) -> None:
    print(
        f"\ngrounded reasoner: acc {_value(grounded.accuracy[Condition.REAL]):.3f}, "
        f"IS {_value(grounded.image_sensitivity):.3f} (oracle {_value(grounded.oracle_is):.3f}), "
        f"claims {_value(grounded.visual_claim_rate):.3f}, HVRR {_value(grounded.hvrr):.3f}, "
        f"HVRR where the answer should change {_value(grounded.hvrr_should_change):.3f}"
    )
    assert _value(grounded.accuracy[Condition.REAL]) >= 0.9
    assert abs(_value(grounded.image_sensitivity) - _value(grounded.oracle_is)) <= 0.1
    assert _value(grounded.visual_claim_rate) >= 0.9
    # its claims move its answer wherever another image should change it
    assert _value(grounded.hvrr_should_change) <= 0.1


def _unparsed_share(metrics: BenchmarkMetrics, condition: Condition) -> float:
    counts = metrics.conditions[condition]
    return counts.unparsed / counts.run


def test_grounded_reasoner_declines_without_an_image(grounded: BenchmarkMetrics) -> None:
    """Shown a gray blank or no image it says so and commits to no answer (``<unparsed>``,
    never counted as a flip): behaviour it was trained for, not noise from an unseen input."""
    for condition in (Condition.BLANK, Condition.NO_IMAGE):
        assert _unparsed_share(grounded, condition) >= 0.9, condition


def test_shortcut_reasoner_claims_findings_its_answer_ignores(
    shortcut: BenchmarkMetrics, grounded: BenchmarkMetrics
) -> None:
    print(
        f"\nshortcut reasoner: acc {_value(shortcut.accuracy[Condition.REAL]):.3f}, "
        f"IS {_value(shortcut.image_sensitivity):.3f}, "
        f"claims {_value(shortcut.visual_claim_rate):.3f}, HVRR {_value(shortcut.hvrr):.3f}"
    )
    assert _value(shortcut.image_sensitivity) <= 0.05
    # its answer is the same constant under every condition, answered (not <unparsed>)
    for condition in (Condition.BLANK, Condition.NO_IMAGE):
        assert _value(shortcut.flip_rate[condition]) <= 0.05, condition
        assert _unparsed_share(shortcut, condition) <= 0.05, condition
    assert _value(shortcut.visual_claim_rate) >= 0.9
    assert _value(shortcut.hvrr) >= 0.8
    assert shortcut.hvrr is not None and grounded.hvrr is not None
    assert shortcut.hvrr.lo > grounded.hvrr.hi, "HVRR intervals must separate the two models"


def test_grounded_reasoner_follows_the_mirror_and_the_shortcut_does_not(
    grounded: BenchmarkMetrics, shortcut: BenchmarkMetrics
) -> None:
    """``flipped``: the grounded reasoner names the other side when the image is mirrored and
    keeps every other answer; the shortcut keeps its side (its answer ignores the image)."""
    followed, kept = (
        grounded.rate("laterality_consistency"),
        shortcut.rate("laterality_consistency"),
    )
    assert followed is not None and kept is not None
    print(
        f"\nlaterality consistency: grounded {followed.k}/{followed.n} "
        f"[{followed.lo:.3f}, {followed.hi:.3f}], shortcut {kept.k}/{kept.n} "
        f"[{kept.lo:.3f}, {kept.hi:.3f}]; flip invariance grounded "
        f"{_value(grounded.rate('flip_invariance')):.3f}"
    )
    assert followed.n >= 20 and followed.value >= 0.85
    assert kept.value <= 0.1
    assert kept.hi < followed.lo, "laterality-consistency intervals must separate the models"
    assert _value(grounded.rate("flip_invariance")) >= 0.9
    assert _value(shortcut.rate("flip_invariance")) >= 0.9
    # scored against the mirrored side, the grounded reasoner stays right under the mirror
    assert _value(grounded.accuracy[Condition.FLIPPED]) >= 0.9


def test_blind_reasoner_is_image_blind_and_no_better_than_the_majority(
    blind: BenchmarkMetrics,
) -> None:
    accuracy = _value(blind.accuracy[Condition.REAL])
    print(
        f"\nblind reasoner: acc {accuracy:.3f}, IS {_value(blind.image_sensitivity):.3f}, "
        f"claims {_value(blind.visual_claim_rate):.3f}, HVRR {_value(blind.hvrr):.3f}"
    )
    assert _value(blind.image_sensitivity) <= 0.05
    # the phantom is balanced per question: the majority baseline is 0.5
    assert abs(accuracy - 0.5) <= 0.12


def test_modality_skeptic_fires_on_the_shortcut_model_not_the_grounded_one(
    grounded_reasoner_dir: Path,
    shortcut_reasoner_dir: Path,
    skeptic_manifest: Path,
    tmp_path: Path,
) -> None:
    shortcut = _audit(shortcut_reasoner_dir, skeptic_manifest, tmp_path / "s", SKEPTIC_ITEMS)
    grounded = _audit(grounded_reasoner_dir, skeptic_manifest, tmp_path / "g", SKEPTIC_ITEMS)
    print(
        f"\nmodality-skeptic rate on wrong-modality questions: shortcut "
        f"{_value(shortcut.modality_skeptic_rate):.3f}, grounded "
        f"{_value(grounded.modality_skeptic_rate):.3f}"
    )
    assert _value(shortcut.modality_skeptic_rate) >= 0.9
    assert _value(grounded.modality_skeptic_rate) <= 0.1
