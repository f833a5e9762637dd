"""The report's reading aids: the verdict, the breakdowns by question type and modality, the
flagged items' pages and thumbnails, round histogram ticks, one row for a single benchmark."""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from audits.contracts.types import ItemAudit
from audits.offline.summaries import modality_label
from audits.reports.breakdowns import question_type_section
from audits.reports.html import MAX_FLAGGED_ITEMS, flagged_items_html, html_report
from audits.reports.svg import count_ticks, histogram_svg, nice_ticks
from audits.reports.thumbnails import thumbnail_data_uri
from audits.reports.verdict import MIN_PAIRS, verdict_for
from audits.reports.writer import write_reports
from audits.science.estimates import DeltaLogpSummary
from audits.science.metrics import OVERALL, compute_metrics
from tests.support.dicom import shipped
from tests.unit.reports.test_report import B, N, R, S, item

SVG = "{http://www.w3.org/2000/svg}"


def grounded(i: int, benchmark: str = "vqa-rad", **facts: object) -> ItemAudit:
    """Half the items' answers follow the image (flip), half stay; no visual claims."""
    flip = i % 2 == 0
    answers = {R: "yes", S: "no" if flip else "yes", B: "yes", N: "yes"}
    audit = item(f"g{i}", benchmark, answers, {R: True, S: not flip, B: True, N: True})
    other = "no" if flip else "yes"
    return audit.model_copy(update={"reference": "yes", "shuffled_reference": other, **facts})


def blind(i: int, *, claim: bool = True) -> ItemAudit:
    """Answers that never follow the image, while the output describes it."""
    answers = {R: "yes", S: "yes", B: "yes", N: "yes"}
    audit = item(f"b{i}", "vqa-rad", answers, {R: True, S: True, B: True, N: True}, claim=claim)
    flipped = "no" if i % 2 == 0 else "yes"
    return audit.model_copy(update={"reference": "yes", "shuffled_reference": flipped})


def test_the_verdict_follows_is_against_the_oracle_is() -> None:
    good = compute_metrics([grounded(i) for i in range(80)], n_boot=20).overall
    verdict = verdict_for(good)
    assert verdict.label == "image-grounded"
    assert verdict.n_pairs == 80 and verdict.image_sensitivity == pytest.approx(0.5)
    assert verdict.oracle_is == pytest.approx(0.5) and verdict.is_share_of_oracle == 1.0
    assert any("Oracle IS = 50.0%" in r for r in verdict.reasons)

    bad = verdict_for(compute_metrics([blind(i) for i in range(80)], n_boot=20).overall)
    assert bad.label == "image-insensitive"
    assert bad.image_sensitivity == 0.0 and bad.hvrr == pytest.approx(1.0)
    assert any("HVRR = 100.0%" in w for w in bad.warnings)

    few = verdict_for(compute_metrics([grounded(i) for i in range(MIN_PAIRS - 1)]).overall)
    assert few.label == "insufficient data"
    assert f"n = {MIN_PAIRS - 1}" in few.reasons[0]

    mixed = [grounded(i) for i in range(40)] + [blind(i, claim=False) for i in range(60)]
    assert verdict_for(compute_metrics(mixed, n_boot=20).overall).label == ("partly image-grounded")


def test_the_verdict_opens_every_report_and_is_in_the_json(tmp_path: Path) -> None:
    items = [blind(i) for i in range(40)]
    paths = write_reports(compute_metrics(items, n_boot=20), tmp_path, title="t", items=items)
    document = json.loads(paths["json"].read_text())
    assert list(document)[:3] == ["title", "verdict", "metrics"]
    overall = document["verdict"][OVERALL]
    assert overall["label"] == "image-insensitive" and overall["n_pairs"] == 40
    assert overall["thresholds"]["min_pairs"] == MIN_PAIRS
    md = paths["md"].read_text().splitlines()
    assert md[2] == "**Verdict: image-insensitive** (Overall, n = 40 pairs)"
    html = paths["html"].read_text()
    assert html.index('id="verdict"') < html.index('id="metrics"')
    assert "Verdict: image-insensitive" in html


def test_one_benchmark_is_shown_once_and_the_metrics_split_into_two_tables() -> None:
    one = compute_metrics([grounded(i, "vqa-rad") for i in range(10)], n_boot=20)
    root = ET.fromstring(html_report(one, title="t"))
    tables = [t for t in root.iter("{http://www.w3.org/1999/xhtml}table")]
    heads = [[c.text for c in next(iter(t))] for t in tables[:2]]
    assert heads[0][-1] == "Blank retention" and heads[1][-1] == "McNemar p"
    assert "HVRR (should change)" in heads[1] and "P(inv|claim)" in heads[1]
    first_cells = [
        "".join(row[0].itertext()) for t in tables[:2] for row in list(t)[1:] if len(row)
    ]
    assert first_cells == ["vqa-rad", "vqa-rad"]
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert not any(t.startswith("Overall") for t in titles)

    two = [grounded(i, "vqa-rad") for i in range(10)] + [grounded(i, "slake") for i in range(4)]
    text = html_report(compute_metrics(two, n_boot=20), title="t")
    assert text.count('<tr class="overall">') == 2


def test_a_breakdown_by_question_type_with_plots(tmp_path: Path) -> None:
    items = [
        grounded(0, question="Is there a lesion?"),
        grounded(1, question="Which side?", options={"A": "left", "B": "right"}),
        grounded(2, question="Which modality?", answer_set=["CT", "MR", "xray"]),
        grounded(3, question="Describe it.").model_copy(update={"reference": "a mass"}),
        grounded(4),
    ]
    section = question_type_section(items, n_boot=20, seed=0)
    assert section is not None and section.groups is not None
    assert list(section.groups) == [
        "closed (yes/no)",
        "multiple choice",
        "fixed answer set",
        "open",
    ]  # grounded(4): no question, but a yes/no reference: closed
    assert section.groups["closed (yes/no)"].n_items == 2
    assert section.key == "by_question_type"

    paths = write_reports(compute_metrics(items, n_boot=20), tmp_path, title="t", items=items)
    assert "by_question_type" in json.loads(paths["json"].read_text())
    assert "## By question type" in paths["md"].read_text()
    root = ET.fromstring(paths["html"].read_text())
    labels = [s.get("aria-label") for s in root.iter(f"{SVG}svg")]
    assert labels.count("Accuracy per condition") == 2  # the benchmark's and the breakdown's

    unknown = [item("x", "b", {R: "yes", S: "no"}, None)]
    assert question_type_section(unknown, n_boot=20, seed=0) is None


def test_modality_labels_keep_the_manifests_word() -> None:
    assert [modality_label(v) for v in ("ct", " MR ", "xray", "X-Ray", "Fundus")] == [
        "CT",
        "MR",
        "CR/DX (xray)",
        "CR/DX (X-Ray)",
        "Fundus",
    ]
    assert [modality_label(v) for v in (None, "", "other", "mri")] == [
        "unknown",
        "unknown",
        "other",
        "MR (mri)",
    ]


def _decoded(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_thumbnails_are_small_and_read_dicom(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (1024, 512), (200, 10, 10)).save(big)
    uri = thumbnail_data_uri(big)
    assert uri is not None and _decoded(uri).size == (96, 48)
    assert len(uri) < 4000
    dicom = thumbnail_data_uri(shipped("CT_small.dcm"))
    assert dicom is not None and max(_decoded(dicom).size) <= 96
    assert thumbnail_data_uri(tmp_path / "missing.png") is None
    assert thumbnail_data_uri(big) == uri  # deterministic


def test_every_flagged_item_is_listed_in_pages_with_thumbnails(tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    Image.new("L", (300, 300), 128).save(image)
    items = [blind(i) for i in range(260)]
    html = flagged_items_html(items, {it.id: image for it in items if it.id != "b3"})
    root = ET.fromstring(f"<div>{html}</div>")
    details = list(root.iter("details"))
    assert len(details) == 3  # 25 open, then pages of 100: 26-125, 126-225, 226-260
    assert [d.findtext("summary") for d in details][-1] == "Items 226 to 260 of 260"
    rows = [tr for tr in root.iter("tr") if tr.find("td") is not None]
    assert len(rows) == 260
    ids = ["".join(tr[1].itertext()) for tr in rows]
    assert ids == [f"b{i}" for i in range(260)]
    images = list(root.iter("img"))
    assert len(images) == 259  # b3 has no image path
    assert max(_decoded(img.get("src", "")).size[0] for img in images) <= 96
    visible = list(root)[1].iter("tr")  # the open table
    assert sum(1 for tr in visible if tr.find("td") is not None) == MAX_FLAGGED_ITEMS
    assert "260 item(s)" in html


def test_histogram_ticks_are_round_numbers() -> None:
    assert nice_ticks(-2.0, 5.0) == [-2.0, 0.0, 2.0, 4.0]
    assert nice_ticks(-0.013, 0.02) == [-0.01, 0.0, 0.01, 0.02]
    assert count_ticks(47) == [0, 20, 40, 60] and count_ticks(0) == [0, 1]
    summary = DeltaLogpSummary(
        n=50, mean=1.0, median=0.9, std=1.2, min=-2.3, max=4.7,
        hist_edges=[-2.3 + 0.7 * i for i in range(11)], hist_counts=[1, 3, 5, 9, 12, 8, 6, 3, 2, 1],
    )  # fmt: skip
    root = ET.fromstring(histogram_svg(summary, label="d", colour="#d62728"))
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert {"0", "5", "10", "15"} <= set(ticks)  # counts
    assert {"-2", "0", "2", "4"} <= set(ticks)  # nats
    assert "delta_logp (nats)" in ticks
