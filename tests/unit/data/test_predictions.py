"""Manifest and predictions files, and the `score` subcommand, checked number by number.

The predictions path runs the real parsing, claim detection and flags modules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audits.contracts.types import UNPARSED, Condition
from audits.data.manifest import ManifestItem, read_manifest, write_manifest
from audits.data.predictions import PredictionRow, audits_from_predictions, read_predictions
from audits.science.estimates import Rate
from audits.science.metrics import compute_metrics
from cli.main import main

R, S, B, N = Condition.REAL, Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE
OPTIONS = {"A": "left", "B": "right"}

PREDICTIONS = [
    # q1: the answer follows the shuffled image (a flip), correct elsewhere; a visual claim
    {"id": "q1", "condition": "real", "answer": "yes", "benchmark": "vqa-rad",
     "output": "<think>The chest X-ray shows a large left pleural effusion.</think>"
               "<answer>yes</answer>"},
    {"id": "q1", "condition": "shuffled", "output": "<answer>no</answer>"},
    {"id": "q1", "condition": "blank", "output": "<answer>yes</answer>"},
    {"id": "q1", "condition": "no_image", "output": "Answer: yes"},
    # q2: invariant everywhere with a visual claim: hallucinated visual reasoning
    {"id": "q2", "condition": "real", "answer": "no", "benchmark": "vqa-rad",
     "output": "<think>The lungs appear clear with no focal consolidation.</think>"
               "<answer>no</answer>"},
    {"id": "q2", "condition": "shuffled", "output": "<answer>no</answer>"},
    {"id": "q2", "condition": "blank", "output": "<answer>No</answer>"},
    {"id": "q2", "condition": "no_image", "output": "no"},
    # q3: option question; the shuffled answer is the option text; blank is unparseable
    {"id": "q3", "condition": "real", "answer": "B", "benchmark": "slake", "options": OPTIONS,
     "output": "<think>The CT demonstrates a hyperdense lesion in the right frontal lobe."
               "</think><answer>B</answer>"},
    {"id": "q3", "condition": "shuffled", "output": "<answer>right</answer>", "benchmark": "slake"},
    {"id": "q3", "condition": "blank",
     "output": "I cannot see anything in this gray image and I am unable to determine anything "
               "from it at all."},
    {"id": "q3", "condition": "no_image", "skipped": True, "skip_reason": "not requested"},
    # q4: wrong with the real image, right with another patient's image; no reasoning
    {"id": "q4", "condition": "real", "output": "<answer>B</answer>", "answer": "A",
     "benchmark": "slake", "options": OPTIONS},
    {"id": "q4", "condition": "shuffled", "output": "<answer>A</answer>"},
    {"id": "q4", "condition": "blank", "output": "<answer>(B)</answer>"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- manifest -------------------------------------------------------------------------------


def test_manifest_resolves_images_against_its_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "img").mkdir(parents=True)
    (data / "img" / "a.png").write_bytes(b"x")
    rows = [
        {"id": 7, "image": "img/a.png", "question": "Is there a mass?", "answer": 2},
        {"id": "b", "image": "img/a.png", "question": "Which side?", "answer": "A",
         "options": {"A": "left", "B": "right"}, "benchmark": "slake", "modality": "CT"},
    ]  # fmt: skip
    manifest = write_jsonl(data / "manifest.jsonl", rows)
    items = read_manifest(manifest)
    assert [i.id for i in items] == ["7", "b"]
    assert items[0].answer == "2" and items[0].benchmark == "default"
    assert Path(items[0].image) == (data / "img" / "a.png").resolve()
    assert items[1].options == {"A": "left", "B": "right"} and items[1].modality == "CT"
    # written elsewhere: paths stay relative to the new manifest and resolve to the same file
    copy = write_manifest(tmp_path / "other" / "copy.jsonl", items)
    first = json.loads(copy.read_text().splitlines()[0])
    assert first["image"] == "../data/img/a.png"
    assert read_manifest(copy) == items


def test_write_manifest_keeps_relative_paths(tmp_path: Path) -> None:
    item = ManifestItem(id="r", image="imgs/r.png", question="q?", answer=True)  # type: ignore[arg-type]
    path = write_manifest(tmp_path / "m.jsonl", [item])
    row = json.loads(path.read_text())
    assert row == {"id": "r", "image": "imgs/r.png", "question": "q?", "answer": "yes",
                   "benchmark": "default"}  # fmt: skip
    assert read_manifest(path)[0].image == str((tmp_path / "imgs" / "r.png").resolve())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"id": "x", "image": "a.png", "answer": "yes"}', "question"),
        ('{"id": "", "image": "a.png", "question": "q", "answer": "yes"}', "id"),
        ('{"id": "a", "image": "a.png", "question": "q", "answer": "no"}', "duplicate id 'a'"),
    ],
)
def test_manifest_bad_line_names_the_line(tmp_path: Path, line: str, message: str) -> None:
    good = '{"id": "a", "image": "a.png", "question": "q", "answer": "yes"}'
    path = tmp_path / "m.jsonl"
    path.write_text(f"{good}\n\n{line}\n")
    with pytest.raises(ValueError, match=message) as info:
        read_manifest(path)
    assert f"{path}:3:" in str(info.value)


# --- predictions ----------------------------------------------------------------------------


def test_read_predictions_validates_rows(tmp_path: Path) -> None:
    rows = read_predictions(write_jsonl(tmp_path / "p.jsonl", PREDICTIONS))
    assert len(rows) == len(PREDICTIONS)
    assert rows[11].skipped and rows[11].output is None
    bad = write_jsonl(tmp_path / "bad.jsonl", [PREDICTIONS[0], {"id": "x", "condition": "grey"}])
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: .*condition"):
        read_predictions(bad)
    missing = write_jsonl(tmp_path / "missing.jsonl", [{"id": "x", "condition": "real"}])
    with pytest.raises(ValueError, match="output is required"):
        read_predictions(missing)


def test_audits_from_predictions_item_by_item(tmp_path: Path) -> None:
    audits = audits_from_predictions(
        read_predictions(write_jsonl(tmp_path / "p.jsonl", PREDICTIONS))
    )
    by_id = {a.id: a for a in audits}
    assert [a.id for a in audits] == ["q1", "q2", "q3", "q4"]
    q1, q2, q3, q4 = (by_id[k].flags for k in ("q1", "q2", "q3", "q4"))
    assert q1.answers == {R: "yes", S: "no", B: "yes", N: "yes"}
    assert q1.flips == {S: True, B: False, N: False}
    assert q1.correct == {R: True, S: False, B: True, N: True}
    assert (q1.visual_claim, q1.image_invariant, q1.hvr) == (True, False, False)
    assert (q2.visual_claim, q2.image_invariant, q2.hvr) == (True, True, True)
    assert q3.answers == {R: "B", S: "B", B: UNPARSED}
    # an unparseable answer is its own class but never a flip (DESIGN: shown beside IS)
    assert q3.flips == {S: False}
    assert (q3.visual_claim, q3.image_invariant, q3.hvr) == (True, True, True)
    assert q3.skipped == {N: "not requested"}
    assert by_id["q3"].options == OPTIONS and by_id["q3"].benchmark == "slake"
    assert q4.correct == {R: False, S: True, B: False}
    assert (q4.visual_claim, q4.image_invariant) == (False, False)


def test_metrics_from_predictions_number_by_number(tmp_path: Path) -> None:
    audits = audits_from_predictions(
        read_predictions(write_jsonl(tmp_path / "p.jsonl", PREDICTIONS))
    )
    metrics = compute_metrics(audits, n_boot=200)
    m = metrics.overall

    def kn(rate: Rate | None) -> tuple[int, int]:
        assert rate is not None
        return (rate.k, rate.n)

    assert [kn(m.accuracy[c]) for c in (R, S, B, N)] == [(3, 4), (3, 4), (2, 4), (2, 2)]
    assert m.vrs is not None and m.vrs.value == pytest.approx(0.0)
    assert m.mcnemar is not None and (m.mcnemar.b, m.mcnemar.c) == (1, 1)
    assert kn(m.image_sensitivity) == (2, 4)
    assert kn(m.is_blank) == (0, 3)  # q3's unparsed blank answer is left out
    assert kn(m.flip_rate[N]) == (0, 2)
    assert m.blank_retention is not None and m.blank_retention.value == pytest.approx(2 / 3)
    assert m.multimodal_gain is not None and m.multimodal_gain.value == 0.0
    assert kn(m.visual_claim_rate) == (3, 4)
    assert kn(m.image_invariant_rate) == (2, 4)  # q2, q3
    assert kn(m.hvrr) == (2, 4)  # q2 and q3: claims, no answer change
    assert kn(m.p_invariant_given_claim) == (2, 3)
    assert (m.conditions[N].run, m.conditions[N].skipped) == (2, 1)
    assert m.conditions[B].unparsed == 1
    slake = metrics.benchmarks["slake"]
    assert slake.vrs is not None and slake.vrs.value == pytest.approx(-0.5)
    assert kn(slake.accuracy[R]) == (1, 2) and kn(slake.accuracy[S]) == (2, 2)
    assert slake.accuracy[N] is None and slake.multimodal_gain is None
    rad = metrics.benchmarks["vqa-rad"]
    assert kn(rad.hvrr) == (1, 2) and kn(rad.image_sensitivity) == (1, 2)


def test_conflicting_or_duplicate_rows_are_rejected() -> None:
    base = PredictionRow(id="x", condition=R, output="yes", answer="yes")
    with pytest.raises(ValueError, match="given twice"):
        audits_from_predictions([base, base])
    other = PredictionRow(id="x", condition=S, output="no", answer="no")
    with pytest.raises(ValueError, match="disagree on 'answer'"):
        audits_from_predictions([base, other])
    # an item without reference is audited, not dropped
    (audit,) = audits_from_predictions([PredictionRow(id="y", condition=R, output="yes")])
    assert audit.reference is None and audit.flags.correct is None


# --- score subcommand -----------------------------------------------------------------------


def test_score_cli_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = write_jsonl(tmp_path / "preds.jsonl", PREDICTIONS)
    out = tmp_path / "report"
    rc = main(["score", "--predictions", str(preds), "--out", str(out), "--n-boot", "100"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| Overall | 4 | 75.0% [" in printed
    assert "| slake | 2 |" in printed and "| vqa-rad | 2 |" in printed
    for name in ("report.json", "report.md", "report.html", "items.jsonl"):
        assert (out / name).is_file()
    document = json.loads((out / "report.json").read_text())
    assert document["metrics"]["overall"]["hvrr"]["k"] == 2
    markdown = (out / "report.md").read_text()
    # every difference beside its paired n and the paired accuracies, with the method named
    assert "## Paired differences" in markdown
    assert "| Overall | VRS = Acc_real - Acc_shuffled | 4 | 75.0% [" in markdown
    assert "McNemar real vs shuffled (b=1, c=1) | 4 |" in markdown
    assert "exact binomial McNemar" in markdown and "Newcombe" in markdown
    assert "recall >= 0.67" in markdown and "token-F1 < 0.50" in markdown
    assert len((out / "items.jsonl").read_text().splitlines()) == 4


def test_score_cli_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    assert main(["score", "--predictions", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert main(["score", "--predictions", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert main(["score", "--predictions", str(tmp_path / "nope.jsonl")]) == 2


def test_score_cli_reads_flipped_rows(tmp_path: Path) -> None:
    """A predictions file with ``flipped`` rows: laterality consistency and flip invariance in
    report.json by name, flipped in the further-rates table."""

    def row(item: str, condition: str, answer: str, question: str) -> dict[str, object]:
        output = f"<think>A round opacity.</think><answer>{answer}</answer>"
        return {"id": item, "condition": condition, "output": output, "question": question}

    side, lesion = "Which side is the lesion on?", "Is there a lesion?"
    rows = [
        row("a", "real", "left", side) | {"answer": "left"},
        row("a", "flipped", "right", side),
        row("b", "real", "right", side) | {"answer": "right"},
        row("b", "flipped", "right", side),
        row("c", "real", "yes", lesion) | {"answer": "yes"},
        row("c", "flipped", "yes", lesion),
    ]
    preds = write_jsonl(tmp_path / "preds.jsonl", rows)
    out = tmp_path / "report"
    assert main(["score", "--predictions", str(preds), "--out", str(out), "--n-boot", "50"]) == 0
    overall = json.loads((out / "report.json").read_text())["metrics"]["overall"]
    assert (overall["laterality_consistency"]["k"], overall["laterality_consistency"]["n"]) == (
        1,
        2,
    )
    assert (overall["flip_invariance"]["k"], overall["flip_invariance"]["n"]) == (1, 1)
    # right under the mirror means the mirrored reference
    assert overall["accuracy"]["flipped"]["k"] == 2
    markdown = (out / "report.md").read_text()
    assert "## Further conditions and rates" in markdown
    assert "| Overall | 3 | 66.7% [" in markdown
