"""Render report.html in headless Chromium and check that the page and its SVG plots paint, and
that at 1400 px every table fits the window with the verdict in view."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from audits.contracts.types import (
    Condition,
    ConditionOutcome,
    ItemAudit,
    ItemFlags,
)
from audits.data.manifest import ManifestItem
from audits.offline.summaries import by_modality, modality_section
from audits.reports.svg import CONDITION_COLOURS
from audits.reports.writer import write_reports
from audits.science.conditions import default_conditions
from audits.science.metrics import compute_metrics

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (CI installs it)"
    ),
]


AUDITED = default_conditions()
"""The conditions these audits ran (shuffled, blank, no_image)."""


def audit_items() -> list[ItemAudit]:
    items = []
    for i in range(40):
        real = "yes" if i % 3 else "no"
        answers = {
            Condition.REAL: real,
            Condition.SHUFFLED: real if i % 2 else "no",
            Condition.BLANK: real if i % 5 else "yes",
            Condition.NO_IMAGE: "yes",
        }
        flips = {c: answers[c] != real for c in AUDITED}
        invariant = not any(flips.values())
        claim = i % 4 != 0
        items.append(
            ItemAudit(
                id=f"item-{i}",
                benchmark=("vqa-rad", "slake", "pathvqa")[i % 3],
                outcomes={c: ConditionOutcome(condition=c, output=a) for c, a in answers.items()},
                flags=ItemFlags(
                    answers=answers,
                    flips=flips,
                    correct={c: a == "yes" for c, a in answers.items()},
                    delta_logp={c: (i % 7) * 0.5 - 1.0 + j for j, c in enumerate(AUDITED)},
                    visual_claim=claim,
                    image_invariant=invariant,
                    hvr=claim and invariant,
                ),
            )
        )
    return items


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    items = audit_items()
    paths = write_reports(
        compute_metrics(items, n_boot=200), tmp_path / "report", title="Chromium check", items=items
    )
    png = tmp_path / "report.png"
    done = chromium(
        tmp_path, f"--screenshot={png}", "--window-size=1200,1600", paths["html"].as_uri()
    )
    assert png.is_file(), f"no screenshot (rc={done.returncode}): {done.stderr[-2000:]}"
    with Image.open(png) as shot:
        image = shot.convert("RGB")
    assert image.size == (1200, 1600)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None
    assert len(colours) > 50, "the page looks blank"
    counts = {rgb: n for n, rgb in colours}
    # the SVG bars are painted in the condition colours
    for condition in (Condition.REAL, Condition.SHUFFLED):
        assert counts.get(hex_to_rgb(CONDITION_COLOURS[condition]), 0) > 200, condition
    white = counts.get((255, 255, 255), 0)
    assert white < 0.97 * 1200 * 1600


QUESTIONS = (
    ("Is there a lesion?", None, "yes"),
    ("Which side is the lesion on?", {"A": "left", "B": "right"}, "A"),
    ("Describe the abnormality.", None, "a round opacity in the left lower lobe"),
)


def rich_report(tmp_path: Path, benchmarks: tuple[str, ...]) -> Path:
    """A realistic report: long benchmark names, three question types, modalities as data
    sets write them (xray, ct, MR), 60 flagged items, images to thumbnail (one of them large)."""
    manifest, audited = [], []
    for i in range(90):
        image = tmp_path / "images" / f"img-{i % 30}.png"
        if not image.exists():
            image.parent.mkdir(exist_ok=True)
            side = 640 if i == 0 else 128
            picture = Image.new("L", (side, side), 20 + 7 * i)
            ImageDraw.Draw(picture).ellipse((side // 4, side // 4, side // 2, side // 2), 230)
            picture.save(image)
        question, options, reference = QUESTIONS[i % 3]
        real = reference if i % 4 else "no"
        answers = {
            Condition.REAL: real,
            Condition.SHUFFLED: real if i % 3 else "other",
            Condition.BLANK: real,
            Condition.NO_IMAGE: real,
        }
        flips = {c: answers[c] != real for c in AUDITED}
        invariant = not any(flips.values())
        modality = ("xray", "ct", "MR")[i % 3 if i % 5 else 0]
        manifest.append(
            ManifestItem(id=f"case-{i:03d}", image=str(image), question=question,
                         answer=reference, options=options, modality=modality)
        )  # fmt: skip
        audited.append(
            ItemAudit(
                id=f"case-{i:03d}",
                benchmark=benchmarks[i % len(benchmarks)],
                question=question,
                reference=reference,
                options=options,
                modality=modality,
                shuffled_reference="other" if i % 2 else reference,
                outcomes={c: ConditionOutcome(condition=c, output=a) for c, a in answers.items()},
                flags=ItemFlags(
                    answers=answers,
                    flips=flips,
                    correct={c: a == reference for c, a in answers.items()},
                    delta_logp={c: (i % 11) * 0.7 - 2.0 + j for j, c in enumerate(AUDITED)},
                    visual_claim=True,
                    image_invariant=invariant,
                    hvr=invariant,
                ),
            )
        )
    metrics = compute_metrics(audited, n_boot=100)
    sections = [modality_section(by_modality(manifest, audited, n_boot=100, seed=0))]
    paths = write_reports(
        metrics,
        tmp_path / "report",
        title="Grounding audit of manifest.jsonl (a-checkpoint-with-a-long-name)",
        items=audited,
        sections=sections,
        images={m.id: m.image for m in manifest},
    )
    return paths["html"]


PROBE = """<script>
const width = window.innerWidth;
const out = {width: width, page: document.documentElement.scrollWidth, tables: [], hidden: []};
for (const table of document.querySelectorAll("table")) {
  const box = table.parentElement;
  const head = table.querySelector("tr");
  out.tables.push({
    head: head ? head.textContent.trim().slice(0, 60) : "",
    right: table.getBoundingClientRect().right,
    scrolls: table.scrollWidth > box.clientWidth + 1,
  });
  for (const th of table.querySelectorAll("th")) {
    if (th.getBoundingClientRect().right > width) out.hidden.push(th.textContent);
  }
}
const verdict = document.getElementById("verdict");
const rect = verdict.getBoundingClientRect();
out.verdict = {top: rect.top, bottom: rect.bottom, text: verdict.textContent};
out.thumbs = Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight]);
out.details = document.querySelectorAll("details").length;
document.body.setAttribute("data-probe", JSON.stringify(out));
</script>
</body>"""


def layout(tmp_path: Path, report: Path, width: int = 1400) -> dict[str, object]:
    """Measurements of the rendered page: a copy of the report with a probe script."""
    probed = report.with_name("probed.html")
    probed.write_text(report.read_text().replace("</body>", PROBE, 1))
    done = chromium(tmp_path, f"--window-size={width},1000", "--dump-dom", probed.as_uri())
    root = done.stdout
    start = root.find('data-probe="')
    assert start >= 0, f"no measurements (rc={done.returncode}): {done.stderr[-2000:]}"
    raw = root[start + len('data-probe="') : root.index('"', start + len('data-probe="'))]
    raw = raw.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(raw.replace("&amp;", "&"))


@pytest.mark.parametrize(
    "benchmarks", [("vqa-rad-test-split",), ("vqa-rad", "slake-en", "pathvqa")]
)
def test_every_table_fits_at_1400_px_with_the_verdict_in_view(
    tmp_path: Path, benchmarks: tuple[str, ...]
) -> None:
    report = rich_report(tmp_path, benchmarks)
    probe = layout(tmp_path, report)
    assert probe["width"] == 1400
    assert probe["page"] <= 1400, "the page scrolls sideways"
    tables = probe["tables"]
    assert isinstance(tables, list) and len(tables) >= 8
    for table in tables:
        assert table["right"] <= 1400, table
        assert not table["scrolls"], table  # every column visible without scrolling its box
    assert probe["hidden"] == []
    verdict = probe["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["top"] >= 0 and verdict["bottom"] <= 1000, "the verdict is below the fold"
    assert "Verdict:" in verdict["text"] and "Oracle IS" in verdict["text"]
    # 60 flagged items: 25 in the open, the others in collapsed pages; small thumbnails only
    assert probe["details"] == 1
    thumbs = probe["thumbs"]
    assert isinstance(thumbs, list) and len(thumbs) == 60
    assert all(0 < w <= 96 and 0 < h <= 96 for w, h in thumbs)
    text = report.read_text()
    assert "CR/DX (xray)" in text and ">other<" not in text
    assert "By question type" in text and "multiple choice" in text
    overall_rows = text.count('<tr class="overall">')
    if len(benchmarks) == 1:
        assert overall_rows == 0  # the one benchmark is not repeated as Overall
        assert text.count(f"<tr><td>{benchmarks[0]}</td>") >= 2
    else:
        assert overall_rows == 2  # the last row of each of the two metric tables
