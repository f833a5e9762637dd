"""`grounding-audit run --url`: the offline suite sends its items to a deployed service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audits.data.phantom import make_phantom
from tests.conftest import DEMO_API_KEY
from tests.support.servers import ServedService


def test_run_against_a_served_model_writes_the_report(
    demo_service: ServedService, tmp_path: Path
) -> None:
    manifest = make_phantom(tmp_path / "data", 4, seed=5)
    out = tmp_path / "audit"
    command = [
        str(Path(sys.executable).parent / "grounding-audit"),
        "run",
        "--manifest",
        str(manifest),
        "--url",
        demo_service.url,
        "--api-key",
        DEMO_API_KEY,
        "--out",
        str(out),
        "--concurrency",
        "2",
        "--no-progress",
        "--n-boot",
        "200",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    n_items = len(manifest.read_text().splitlines())
    assert len(rows) == n_items
    report = json.loads((out / "report.json").read_text())
    overall = report["metrics"]["overall"]
    shuffled = overall["conditions"]["shuffled"]
    assert shuffled["run"] == n_items, "every item ran the shuffled condition"
    # the random demo model writes gibberish: an item whose real or shuffled answer is
    # <unparsed> has no known flip, and is counted beside IS rather than folded into it
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    unknown = sum(
        1
        for item in items
        if "<unparsed>" in (item["flags"]["answers"].get(c) for c in ("real", "shuffled"))
    )
    assert overall["conditions"]["real"]["unparsed"] <= unknown
    if unknown == n_items:
        # the phantom's questions are closed (yes/no, answer_set): gibberish is none of their
        # answers, so no item has a known flip and IS has nothing to be computed over
        assert overall["image_sensitivity"] is None
    else:
        assert overall["image_sensitivity"]["n"] == n_items - unknown
    assert (out / "report.html").stat().st_size > 1000
