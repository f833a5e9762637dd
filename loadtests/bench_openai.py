"""Figures for the OpenAI face and upstream mode, as ratios measured in one run.

    python -m loadtests.bench_openai [--model DIR] [--duration 20] [--producers 2]

1. The same closed-loop load through ``/v1/chat/completions`` and through ``/predict`` of one
   server: p50 and p99 ratios (OpenAI / predict).
2. The same load on a server in upstream mode (forwarding to a second server that holds the
   model) and on the in-process server, with 0% and 100% of requests mirrored: production p99
   ratios (upstream / in-process) and the audit completion rate in upstream mode.

Both servers share this machine's CPU, and the model server here (this service) has no request
priority, so upstream audits compete with production on equal terms there, unlike on a vLLM
server started with ``--scheduling-policy priority``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.bench_http import served
from loadtests.payloads import QUESTIONS, PayloadPool, ScanImage
from service.identity import sample_decision


@dataclass
class Phase:
    latencies_ms: list[float]
    audits: Counter[str]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def audit_counters(url: str) -> Counter[str]:
    """Mirrored audits, completed ones and dropped ones (every reason), so far."""
    counts: Counter[str] = Counter()
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "grounding_mirrored_total":
                counts["submitted"] += int(sample.value)
            elif sample.name == "grounding_audits_total":
                counts["completed"] += int(sample.value)
            elif sample.name == "grounding_audits_dropped_total":
                counts["dropped"] += int(sample.value)
    return counts


def wait_for_audits(url: str, timeout_s: float = 300) -> None:
    """Until every mirrored audit has completed or been dropped (running ones included)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = audit_counters(url)
        if counts["completed"] + counts["dropped"] >= counts["submitted"]:
            return
        time.sleep(0.5)
    print(f"warning: audits still unfinished after {timeout_s:.0f} s at {url}", flush=True)


def _predict_request(scan: ScanImage, question: str, request_id: str, audit: bool) -> tuple:
    body = {
        "image_base64": scan.base64,
        "question": question,
        "request_id": request_id,
        "audit": audit,
    }
    return "/predict", body


def _chat_request(model: str):
    def build(scan: ScanImage, question: str, request_id: str, audit: bool) -> tuple:
        content = [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{scan.base64}"}},
            {"type": "text", "text": question},
        ]
        body = {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "request_id": request_id,
            "audit": audit,
        }
        return "/v1/chat/completions", body

    return build


async def _closed_loop(url, build, scans, *, producers, think_s, duration_s, rate, name, seed):
    begin = time.perf_counter()
    measure_from, end = begin + 2.0, begin + 2.0 + duration_s
    spans: list[tuple[float, float]] = []
    errors = 0

    async def client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + index)
        sent = 0
        while time.perf_counter() < end:
            request_id = f"{name}-{index}-{sent}"
            sent += 1
            path, body = build(
                rng.choice(scans),
                rng.choice(QUESTIONS).text,
                request_id,
                sample_decision(request_id, rate),
            )
            started = time.perf_counter()
            response = await http.post(path, json=body)
            finished = time.perf_counter()
            if response.status_code != 200:
                errors += 1
            else:
                spans.append((started, finished))
            await asyncio.sleep(rng.expovariate(1.0 / think_s) if think_s > 0 else 0)

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        await asyncio.gather(*(client(i, http) for i in range(producers)))
    if errors:
        raise RuntimeError(f"{errors} requests failed in {name}")
    return [(t1 - t0) * 1000 for t0, t1 in spans if t0 >= measure_from and t1 <= end]


def run_phase(url: str, build, scans, args, *, rate: float, name: str, metrics_url: str) -> Phase:
    wait_for_audits(metrics_url)
    before = audit_counters(metrics_url)
    latencies = asyncio.run(
        _closed_loop(
            url,
            build,
            scans,
            producers=args.producers,
            think_s=args.think,
            duration_s=args.duration,
            rate=rate,
            name=name,
            seed=args.seed,
        )
    )
    wait_for_audits(metrics_url)
    after = audit_counters(metrics_url)
    audits = Counter({k: after[k] - before[k] for k in ("submitted", "completed", "dropped")})
    print(
        f"{name}: n={len(latencies)} p50={statistics.median(latencies):.0f} ms "
        f"p99={Phase(latencies, audits).quantile(0.99):.0f} ms audits={dict(audits)}",
        flush=True,
    )
    return Phase(latencies, audits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="checkpoint folder (default: grounded ref.)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--think", type=float, default=0.1, help="mean think time (s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per pair")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if args.model is None:
        from service.reference.prepare import ensure_reference_model
        from service.settings import get_settings

        args.model = ensure_reference_model("grounded", get_settings().model.cache_dir)
    scans = PayloadPool(n_images=8, seed=args.seed).scans
    env = {
        "GROUNDING_SAMPLE_RATE": "0",
        "GROUNDING_MODEL_NAME": "bench",
        "GROUNDING_AUDIT_MODE": "generate",
    }
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        logs = Path(tmp)
        with served(args.model, env, logs / "model.log") as model_url:
            chat = _chat_request("bench")
            phases: dict[str, list[Phase]] = {"predict": [], "openai": []}
            for round_ in range(args.rounds):
                for name, build in (("predict", _predict_request), ("openai", chat)):
                    phases[name].append(
                        run_phase(
                            model_url,
                            build,
                            scans,
                            args,
                            rate=0.0,
                            name=f"{name}-r{round_}",
                            metrics_url=model_url,
                        )
                    )
            figures.update(_ratios("openai_vs_predict", phases["openai"], phases["predict"]))

            upstream_env = {
                **env,
                "GROUNDING_UPSTREAM_URL": f"{model_url}/v1",
                "GROUNDING_UPSTREAM_MODEL": "bench",
                "GROUNDING_MODEL_NAME": "bench-upstream",
            }
            with served(args.model, upstream_env, logs / "upstream.log") as wrapper_url:
                for rate in (0.0, 1.0):
                    runs: dict[str, list[Phase]] = {"in_process": [], "upstream": []}
                    for round_ in range(args.rounds):
                        for name, url in (("in_process", model_url), ("upstream", wrapper_url)):
                            runs[name].append(
                                run_phase(
                                    url,
                                    _predict_request,
                                    scans,
                                    args,
                                    rate=rate,
                                    name=f"{name}-{int(rate * 100)}pct-r{round_}",
                                    metrics_url=url,
                                )
                            )
                    label = f"upstream_vs_in_process_mirror{int(rate * 100)}"
                    figures.update(_ratios(label, runs["upstream"], runs["in_process"]))
                    if rate > 0:
                        audits = Counter()
                        for phase in runs["upstream"]:
                            audits.update(phase.audits)
                        figures["upstream_audit_completion_rate"] = (
                            audits["completed"] / audits["submitted"] if audits["submitted"] else 0
                        )
                        in_process = Counter()
                        for phase in runs["in_process"]:
                            in_process.update(phase.audits)
                        figures["in_process_audit_completion_rate"] = (
                            in_process["completed"] / in_process["submitted"]
                            if in_process["submitted"]
                            else 0
                        )
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


def _ratios(label: str, numerator: list[Phase], denominator: list[Phase]) -> dict[str, float]:
    """Pooled ratios, and the median of per-round ratios (rounds alternate, so a load swing on
    a shared machine hits both sides of one round alike)."""
    top = Phase([x for p in numerator for x in p.latencies_ms], Counter())
    bottom = Phase([x for p in denominator for x in p.latencies_ms], Counter())
    pairs = list(zip(numerator, denominator, strict=True))
    per_round = {
        q: statistics.median(a.quantile(q) / b.quantile(q) for a, b in pairs) for q in (0.5, 0.99)
    }
    return {
        f"{label}_p50_ratio": round(top.quantile(0.5) / bottom.quantile(0.5), 3),
        f"{label}_p99_ratio": round(top.quantile(0.99) / bottom.quantile(0.99), 3),
        f"{label}_p50_ratio_median_of_rounds": round(per_round[0.5], 3),
        f"{label}_p99_ratio_median_of_rounds": round(per_round[0.99], 3),
        f"{label}_p50_ms": round(top.quantile(0.5), 1),
        f"{label}_baseline_p50_ms": round(bottom.quantile(0.5), 1),
    }


if __name__ == "__main__":
    main()
