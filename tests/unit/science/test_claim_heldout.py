"""Claim detector on the labelled sentence splits (tests/fixtures/labelled, see SOURCES.md there).

Sentence level: a labelled sentence is predicted-claim when ``detect_visual_claims(sentence)``
returns at least one span. The dev split is the one the detector was tuned on: its errors are
printed per category. The held-out split was never looked at while tuning: only its overall
precision and recall are printed, and both must reach the DESIGN floor of 0.90.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from audits.science.claims import detect_visual_claims

LABELLED = Path(__file__).resolve().parents[2] / "fixtures" / "labelled"
DEV = LABELLED / "claims_dev.jsonl"
HELDOUT = LABELLED / "claims_heldout.jsonl"
FLOOR = 0.90


def _load(path: Path) -> list[dict]:
    if not path.exists():
        pytest.fail(f"labelled claim split missing: {path} (see tests/fixtures/labelled)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not rows:
        pytest.fail(f"labelled claim split is empty: {path}")
    return rows


def _score(rows: list[dict]) -> tuple[float, float, dict[str, list[str]]]:
    tp = fp = fn = 0
    errors: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        predicted = bool(detect_visual_claims(row["text"]))
        expected = bool(row["claim"])
        tp += predicted and expected
        fp += predicted and not expected
        fn += expected and not predicted
        if predicted != expected:
            kind = "FP" if predicted else "FN"
            errors[f"{kind} {row.get('category', '?')}"].append(row["text"])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, errors


def test_claims_dev_and_heldout_precision_recall() -> None:
    dev = _load(DEV)
    p, r, errors = _score(dev)
    print(f"\nclaims dev: P={p:.3f} R={r:.3f} (n={len(dev)})")
    for kind, texts in sorted(errors.items()):
        print(f"  {kind}: {len(texts)}")
        for text in texts:
            print(f"    {text}")

    heldout = _load(HELDOUT)
    assert any(row["claim"] for row in heldout), "held-out split has no claim sentences"
    assert not all(row["claim"] for row in heldout), "held-out split has no non-claim sentences"
    hp, hr, _ = _score(heldout)
    print(f"claims held-out: P={hp:.3f} R={hr:.3f} (n={len(heldout)})")
    assert hp >= FLOOR, f"held-out precision {hp:.3f} < {FLOOR}"
    assert hr >= FLOOR, f"held-out recall {hr:.3f} < {FLOOR}"
