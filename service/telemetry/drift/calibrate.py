"""`grounding-audit calibrate`: freeze, reset or show the image-sensitivity drift baseline.

    grounding-audit calibrate --model M --from-first 500      # first 500 audits in the stream
    grounding-audit calibrate --model M --from-report out/report.json   # offline overall IS
    grounding-audit calibrate --model M --baseline 0.44
    grounding-audit calibrate --model M --reset               # after an incident was handled
    grounding-audit calibrate --model M --clear-baseline      # re-freeze from the next audits
    grounding-audit calibrate --model M                       # show baseline and CUSUM state

Setting a baseline restarts the CUSUM from zero. The output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from audits.science.drift.stratified import stratum_of
from service.telemetry.drift.admin import clear_baseline, read_drift, reset_cusum, set_baseline
from service.telemetry.drift.baseline import Baseline
from service.telemetry.drift.figures import drift_figures
from service.telemetry.redis_keys import STREAM_KEY, connect


class CalibrationError(ValueError):
    pass


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url", default=None, help="default: GROUNDING_REDIS_URL or the settings default"
    )
    parser.add_argument("--model", required=True, help="the model label of the records")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--from-first",
        type=int,
        metavar="N",
        help="baseline = flip_shuffled rate of the first N audits of the model in the stream",
    )
    action.add_argument(
        "--from-report",
        type=Path,
        metavar="REPORT_JSON",
        help="baseline = overall IS of an offline audit report (report.json)",
    )
    action.add_argument("--baseline", type=float, metavar="RATE", help="baseline flip rate")
    action.add_argument("--reset", action="store_true", help="reset the CUSUM and its alarm")
    action.add_argument(
        "--clear-baseline",
        action="store_true",
        help="forget the baseline; the next drift_min_audits audits freeze a new one",
    )
    parser.add_argument(
        "--min-audits",
        type=int,
        default=None,
        help="for the shown status (default: GROUNDING_DRIFT_MIN_AUDITS)",
    )


def report_rate(path: Path) -> tuple[float, int | None]:
    """Overall IS of an offline report: metrics.overall.image_sensitivity."""
    document = json.loads(path.read_text(encoding="utf-8"))
    metrics = document.get("metrics", document)
    try:
        rate = metrics["overall"]["image_sensitivity"]
    except (KeyError, TypeError) as exc:
        raise CalibrationError(f"{path} has no metrics.overall.image_sensitivity") from exc
    if not rate:
        raise CalibrationError(f"{path}: the overall image sensitivity is empty (no shuffled runs)")
    return float(rate["value"]), int(rate["n"]) if rate.get("n") is not None else None


async def first_strata(
    client: Any, model: str, count: int, page: int = 1000
) -> dict[str, tuple[int, int]]:
    """(audits, flips) per stratum (question kind x modality) of the oldest ``count`` stream
    entries of ``model`` with a known ``flip_shuffled``."""
    counts: dict[str, tuple[int, int]] = {}
    seen = 0
    start = "-"
    while seen < count:
        entries = await client.xrange(STREAM_KEY, min=start, max="+", count=page)
        if not entries:
            break
        for _entry_id, fields in entries:
            if fields.get("model") == model and fields.get("flip_shuffled") in ("0", "1"):
                stratum = stratum_of(fields.get("question_kind"), fields.get("modality"))
                n, k = counts.get(stratum, (0, 0))
                counts[stratum] = (n + 1, k + int(fields["flip_shuffled"]))
                seen += 1
                if seen == count:
                    break
        start = "(" + entries[-1][0]
    return counts


async def calibrate(args: argparse.Namespace, url: str, min_audits: int) -> dict[str, Any]:
    client = connect(url, socket_connect_timeout=5, socket_timeout=10)
    try:
        action = "show"
        if args.from_first is not None:
            if args.from_first < 1:
                raise CalibrationError("--from-first needs N >= 1")
            counts = await first_strata(client, args.model, args.from_first)
            found = sum(n for n, _ in counts.values())
            if found < args.from_first:
                raise CalibrationError(
                    f"the stream holds {found} audits of {args.model!r} with a shuffled "
                    f"result; {args.from_first} were asked for"
                )
            baseline = Baseline.for_counts(counts, source=f"first:{found}")
            await set_baseline(client, args.model, baseline)
            action = "set"
        elif args.from_report is not None:
            rate, n = report_rate(args.from_report)
            baseline = Baseline.for_rate(rate, source=f"report:{args.from_report.name}", n=n)
            await set_baseline(client, args.model, baseline)
            action = "set"
        elif args.baseline is not None:
            if not 0.0 < args.baseline < 1.0:
                raise CalibrationError("--baseline must lie strictly between 0 and 1")
            await set_baseline(
                client, args.model, Baseline.for_rate(args.baseline, source="manual")
            )
            action = "set"
        elif args.reset:
            await reset_cusum(client, args.model)
            action = "reset"
        elif args.clear_baseline:
            await clear_baseline(client, args.model)
            action = "cleared"
        baseline, state = await read_drift(client, args.model)
    finally:
        await client.aclose()
    return {
        "model": args.model,
        "action": action,
        "baseline": baseline.model_dump(mode="json") if baseline else None,
        "drift": drift_figures(state, baseline, min_audits).model_dump(mode="json"),
    }


def run(args: argparse.Namespace) -> int:
    from service.settings import Settings

    settings = Settings()
    url = args.redis_url or settings.redis.url
    min_audits = args.min_audits or settings.audit.drift_min_audits
    try:
        result = asyncio.run(calibrate(args, url, min_audits))
    except (CalibrationError, OSError, json.JSONDecodeError) as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # redis errors: say what failed, no traceback
        print(f"calibrate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
