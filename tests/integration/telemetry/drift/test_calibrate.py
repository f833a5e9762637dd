"""`grounding-audit calibrate` against Redis: a baseline from the stream, a report or a number."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from service.telemetry.drift import calibrate
from service.telemetry.drift.baseline import Baseline
from service.telemetry.redis_keys import baseline_key, cusum_key
from tests.support.telemetry import Target, calibrate_async, make_record, make_telemetry


def _calibrate(url: str, *argv: str) -> dict[str, Any]:
    return asyncio.run(calibrate_async(url, *argv))


def test_calibrate_sets_the_baseline_from_stream_report_or_number(
    target: Target, target_client: redis_py.Redis, tmp_path: Path
) -> None:
    telemetry = make_telemetry(target.url)
    flips = [i % 5 in (0, 1) for i in range(60)]  # rate 0.4
    telemetry.sink.emit(make_record(999, True, model="other"))
    for i, flip in enumerate(flips):
        telemetry.sink.emit(make_record(i, flip))
    assert telemetry.flush(10)

    first = _calibrate(target.url, "--from-first", "30")
    assert first["action"] == "set" and first["baseline"]["rate"] == pytest.approx(0.4)
    assert first["baseline"]["n"] == 30 and first["baseline"]["source"] == "first:30"
    assert target_client.exists(cusum_key("m")) == 0, "a new baseline restarts the CUSUM"
    with pytest.raises(calibrate.CalibrationError):
        _calibrate(target.url, "--from-first", "500")

    report = tmp_path / "report.json"
    overall = {"image_sensitivity": {"value": 0.482, "lo": 0.45, "hi": 0.51, "n": 900, "k": 434}}
    report.write_text(json.dumps({"title": "t", "metrics": {"overall": overall}}))
    from_report = _calibrate(target.url, "--from-report", str(report))
    assert from_report["baseline"]["p0"] == 0.482 and from_report["baseline"]["n"] == 900

    manual = _calibrate(target.url, "--baseline", "0.44")
    assert manual["baseline"]["p0"] == 0.44 and manual["baseline"]["source"] == "manual"
    stored = Baseline.from_hash(target_client.hgetall(baseline_key("m")))
    assert stored is not None and stored.h == Baseline.for_rate(0.44, source="x").h

    cleared = _calibrate(target.url, "--clear-baseline")
    assert cleared["baseline"] is None and cleared["drift"]["status"] == "insufficient_data"
    parser = argparse.ArgumentParser()
    calibrate.register(parser)
    bad = parser.parse_args(["--redis-url", target.url, "--model", "m", "--baseline", "1.5"])
    assert calibrate.run(bad) == 1
    telemetry.close()
