"""Render report.html in headless Chromium and check that the page and its SVG plots paint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from audits.contracts.types import (
    COUNTERFACTUALS,
    Condition,
    ConditionOutcome,
    ItemAudit,
    ItemFlags,
)
from audits.reports.svg import CONDITION_COLOURS
from audits.reports.writer import write_reports
from audits.science.metrics import compute_metrics

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (CI installs it)"
    ),
]


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
        flips = {c: answers[c] != real for c in COUNTERFACTUALS}
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
                    delta_logp={c: (i % 7) * 0.5 - 1.0 + j for j, c in enumerate(COUNTERFACTUALS)},
                    visual_claim=claim,
                    image_invariant=invariant,
                    hvr=claim and invariant,
                ),
            )
        )
    return items


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    items = audit_items()
    paths = write_reports(
        compute_metrics(items, n_boot=200), tmp_path / "report", title="Chromium check", items=items
    )
    png = tmp_path / "report.png"
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
        f"--screenshot={png}",
        "--window-size=1200,1600",
        paths["html"].resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
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
