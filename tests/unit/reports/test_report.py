from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from audits.contracts.types import ClaimSpan, Condition, ConditionOutcome, ItemAudit, ItemFlags
from audits.reports.format import fmt_diff, fmt_p, fmt_rate
from audits.reports.html import html_report
from audits.reports.markdown import markdown_table
from audits.reports.writer import write_reports
from audits.science.estimates import Diff, Rate
from audits.science.metrics import AuditMetrics, compute_metrics

R, S, B, N = Condition.REAL, Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE
SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"
ODD_NAME = 'rad <b>&"x"'


def item(
    item_id: str,
    benchmark: str,
    answers: dict[Condition, str],
    correct: dict[Condition, bool] | None,
    *,
    claim: bool = False,
    delta: dict[Condition, float] | None = None,
) -> ItemAudit:
    flips = {c: a != answers[R] for c, a in answers.items() if c is not R}
    invariant = not any(flips.values()) if flips else None
    spans = (
        [ClaimSpan(start=0, end=9, text="opacity <", category="finding", trigger="opacity")]
        if claim
        else []
    )
    return ItemAudit(
        id=item_id,
        benchmark=benchmark,
        outcomes={c: ConditionOutcome(condition=c, output=a) for c, a in answers.items()},
        flags=ItemFlags(
            answers=answers,
            flips=flips,
            correct=correct,
            delta_logp=delta or {},
            claim_spans=spans,
            visual_claim=claim,
            image_invariant=invariant,
            hvr=None if invariant is None else claim and invariant,
        ),
    )


def sample_items() -> list[ItemAudit]:
    yes_all = {R: "yes", S: "yes", B: "yes", N: "yes"}
    return [
        item("a1", ODD_NAME, yes_all, {R: True, S: True, B: True, N: True}, claim=True,
             delta={S: 0.2, B: 0.1, N: -0.3}),
        item("a2", ODD_NAME, {R: "no", S: "yes", B: "no", N: "yes"},
             {R: True, S: False, B: True, N: False}, delta={S: 2.5, B: 0.4, N: 3.0}),
        item("b1", "pathvqa", {R: "no", S: "yes", B: "yes"}, {R: False, S: True, B: True},
             claim=True, delta={S: 1.5, B: 1.0}),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def metrics() -> AuditMetrics:
    return compute_metrics(sample_items(), n_boot=200)


def test_cell_formatting() -> None:
    assert fmt_rate(Rate(value=0.482, lo=0.4, hi=0.55, n=100, k=48)) == "48.2% [40.0, 55.0]"
    assert fmt_diff(Diff(value=-0.09, lo=-0.15, hi=-0.02, n=50)) == "-9.0 pp [-15.0, -2.0]"
    assert fmt_rate(None) == "n/a"
    assert (fmt_p(0.0004), fmt_p(0.03125), fmt_p(None)) == ("<0.001", "0.031", "n/a")


def test_markdown_table_rows_follow_the_paper_layout(metrics: AuditMetrics) -> None:
    lines = markdown_table(metrics).splitlines()
    assert lines[0].startswith("| Benchmark | n | Acc_real | Acc_shuffled | Acc_blank |")
    assert lines[0].rstrip().endswith("| McNemar p |")
    names = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert names == ["pathvqa", ODD_NAME, "Overall"]
    overall = lines[-1].split(" | ")
    assert overall[1] == "3"
    assert overall[2].startswith("66.7% [")  # Acc_real 2/3
    assert overall[5].startswith("50.0% [")  # Acc_no_image 1/2
    pathvqa = lines[2].split(" | ")
    assert pathvqa[5] == "n/a" and pathvqa[6].startswith("-100.0 pp")  # VRS = 0 - 1


def test_write_reports_files_and_json(tmp_path: Path, metrics: AuditMetrics) -> None:
    paths = write_reports(metrics, tmp_path / "out", title="Audit <test>", items=sample_items())
    assert set(paths) == {"json", "md", "html", "items"}
    document = json.loads(paths["json"].read_text())
    assert document["title"] == "Audit <test>"
    assert "generated_at" not in document
    assert AuditMetrics.model_validate(document["metrics"]) == metrics
    assert any(f["metric"] == "HVRR" for f in document["paper_reference"])
    md = paths["md"].read_text()
    assert md.startswith("# Audit <test>\n")
    assert "## Counts per condition" in md and "| Overall | no_image | 2 | 0 | 2 | 0 | 2 |" in md
    items = [json.loads(line) for line in paths["items"].read_text().splitlines()]
    assert [i["id"] for i in items] == ["a1", "a2", "b1"]


def test_html_is_well_formed_self_contained_and_escaped(
    tmp_path: Path, metrics: AuditMetrics
) -> None:
    paths = write_reports(metrics, tmp_path, title="Audit <test>", items=sample_items())
    text = paths["html"].read_text()
    root = ET.fromstring(text)  # raises on unbalanced or unescaped markup
    assert root.tag == f"{XHTML}html"
    assert "<script" not in text and "<link" not in text and "@import" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"}
    assert ODD_NAME not in text and "rad &lt;b&gt;&amp;&quot;x&quot;" in text
    svgs = list(root.iter(f"{SVG}svg"))
    # accuracy bars, IS/HVRR bars, one delta_logp histogram per counterfactual condition
    assert len(svgs) == 2 + 3
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    overall_real = next(t for t in titles if t.startswith("Overall real:"))
    assert overall_real.startswith("Overall real: 66.7% [")
    assert "Items with hallucinated visual reasoning" in text
    assert ">a1<" in text and "opacity &lt; (finding)" in text
    # the histogram counts add up to the number of items with that delta
    shuffled_hist = next(s for s in svgs if (s.get("aria-label") or "") == "delta_logp (shuffled)")
    counts = [
        int((t.text or "").rsplit(": ", 1)[1]) for t in shuffled_hist.iter(f"{SVG}title")
        if (t.text or "").startswith("[")
    ]  # fmt: skip
    assert sum(counts) == 3


def test_bar_heights_encode_the_values(metrics: AuditMetrics) -> None:
    root = ET.fromstring(html_report(metrics, title="t"))
    bars = {
        (rect.findtext(f"{SVG}title") or "").split(":")[0]: float(rect.get("height", "nan"))
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title") is not None
    }
    assert bars["Overall real"] == pytest.approx(220 * 2 / 3, abs=0.1)
    assert bars["pathvqa shuffled"] == pytest.approx(220.0)
    assert bars["pathvqa real"] == 0.0


def test_reports_are_deterministic(tmp_path: Path) -> None:
    first = write_reports(compute_metrics(sample_items(), n_boot=100), tmp_path / "a", title="t")
    second = write_reports(compute_metrics(sample_items(), n_boot=100), tmp_path / "b", title="t")
    for kind in ("json", "md", "html"):
        assert first[kind].read_bytes() == second[kind].read_bytes()
    stamped = write_reports(
        compute_metrics(sample_items(), n_boot=100),
        tmp_path / "c",
        title="t",
        generated_at="2025-01-02T03:04:05Z",
    )
    assert "2025-01-02T03:04:05Z" in stamped["html"].read_text()
    assert json.loads(stamped["json"].read_text())["generated_at"] == "2025-01-02T03:04:05Z"


def test_report_without_references_or_scores(tmp_path: Path) -> None:
    items = [item("x", "tiny", {R: "yes", S: "no"}, None, claim=True)]
    paths = write_reports(compute_metrics(items, n_boot=50), tmp_path, title="t", items=items)
    text = paths["html"].read_text()
    root = ET.fromstring(text)
    assert "No reference answers" in text and "No score-mode log-probabilities" in text
    assert len(list(root.iter(f"{SVG}svg"))) == 1  # only IS / HVRR
    assert "No item combined visual claims" in text
    assert "| tiny | 1 | n/a | n/a | n/a | n/a | n/a | 100.0% [" in paths["md"].read_text()


def test_empty_audit_still_writes_reports(tmp_path: Path) -> None:
    paths = write_reports(compute_metrics([]), tmp_path, title="empty")
    root = ET.fromstring(paths["html"].read_text())
    assert list(root.iter(f"{SVG}svg")) == []
    assert "| Overall | 0 |" in paths["md"].read_text()
