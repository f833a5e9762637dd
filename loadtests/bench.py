"""`grounding-audit bench`: latency and audit-cost ratios measured in one run on this machine.

Parts (all in one process, on the real model runtime):

1. runtime micro benchmark: generate for one item, for a batch of its 3 variants, for 3 calls
   one after another, and score for the batch of 3;
2. audit cost: one audit in generate, score and both modes as a ratio to one production request,
   batched variants vs one after another;
3. production latency and throughput through the real InferenceEngine with mirroring at 0%,
   10% and 100%: a closed loop that leaves the model idle, then at saturation;
4. the sustainable audit share (DESIGN.md section 5) in score and generate mode: the largest
   mirrored share whose audits all complete while production keeps the model about 50% busy;
5. with ``--http``, the same load through a real ``bentoml serve``.

The default model is the grounded reasoner (outputs of tens of tokens); the audit cost is also
measured on the one-word grounded model, as a second row.

Prints Markdown tables and writes the figures as JSON (``--out``). Targets are printed beside
the figures, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from audits.contracts.backend import VLMBackend, VLMInput
from audits.data.phantom import LESION_QUESTION
from loadtests.bench_engine import LoadConfig, LoadResult, PhaseSample, run_phase, summarize
from loadtests.bench_report import (
    BenchReport,
    Calibration,
    CalibrationStep,
    SustainableShare,
    describe_machine,
    evaluate_targets,
    render,
)
from loadtests.bench_validity import (
    MIN_REQUESTS_P99,
    UTILIZATION_TOLERANCE,
    cpu_snapshot,
    next_think_time_s,
    other_cpu_cores,
)
from loadtests.payloads import PayloadPool, ScanImage
from loadtests.timing import elapsed_ms, percentile

RATES = (0.0, 0.1, 1.0)
SATURATION_RATES = (0.0, 1.0)
SHARES = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02)
"""Mirrored shares tried for the sustainable audit share, largest first."""
ONE_WORD_MODEL = "grounded"


class Plan(BaseModel):
    micro_rounds: int
    audit_rounds: int
    rounds: int
    """Each load phase runs this many times, interleaved with the other rates, and is pooled."""
    below_s: float
    """Each try of the sustainable share; the below-saturation arms run as long as their
    requests need (``requests``, from the calibrated request rate)."""
    saturation_s: float
    warmup_s: float
    requests: int = MIN_REQUESTS_P99
    """Requests each load arm aims at (pooled over its rounds)."""
    calibration_s: float = 6.0
    """One calibration window of the unmirrored closed loop."""
    calibration_steps: int = 5
    calibration_requests: int = 40
    """Requests one calibration window aims at (it lasts at most ``calibration_max_s``)."""
    calibration_max_s: float = 30.0
    extra_rounds: int = 2
    """Rounds added (all rates, interleaved) while an arm is short of ``requests``."""


FULL = Plan(
    micro_rounds=20,
    audit_rounds=15,
    rounds=2,
    below_s=20,
    saturation_s=12,
    warmup_s=1,
    requests=300,
    calibration_s=6,
    calibration_steps=5,
)
QUICK = Plan(
    micro_rounds=6,
    audit_rounds=5,
    rounds=1,
    below_s=8,
    saturation_s=5,
    warmup_s=0.5,
    requests=60,
    calibration_s=3,
    calibration_steps=3,
    calibration_requests=20,
    calibration_max_s=12,
    extra_rounds=0,
)


def register(parser: argparse.ArgumentParser) -> None:
    from service.settings import Settings

    defaults = Settings()
    model = parser.add_mutually_exclusive_group()
    model.add_argument(
        "--model-dir", type=Path, help="checkpoint folder (default: the grounded reasoner)"
    )
    model.add_argument("--demo", action="store_true", help="the random demo model instead")
    parser.add_argument("--cache-dir", type=Path, default=defaults.model.cache_dir)
    parser.add_argument("--device", default=defaults.model.device)
    parser.add_argument("--max-new-tokens", type=int, default=defaults.model.max_new_tokens)
    parser.add_argument("--audit-mode", choices=("generate", "score", "both"), default="both")
    parser.add_argument("--max-batch-size", type=int, default=defaults.model.max_batch_size)
    parser.add_argument("--audit-queue-size", type=int, default=defaults.audit.queue_size)
    parser.add_argument(
        "--clients", type=int, default=4, help="closed-loop clients below saturation"
    )
    parser.add_argument(
        "--target-utilization",
        type=float,
        default=0.5,
        help="model busy share the unmirrored closed loop aims at (think time is set from it)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer requests and rounds (a few minutes); says so, and its p99 targets are invalid",
    )
    parser.add_argument(
        "--max-load",
        type=float,
        default=None,
        help="largest 1-minute load average at the start for timings to count "
        "(default: half the cores); above it the timing targets are printed invalid",
    )
    parser.add_argument("--http", action="store_true", help="also load a real bentoml serve")
    parser.add_argument(
        "--skip-sustainable",
        action="store_true",
        help="leave out the sustainable audit share (the longest part of a --quick run)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench.json"), help="JSON figures")


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def resolve_model(args: argparse.Namespace) -> tuple[Path, str]:
    if args.model_dir is not None:
        return args.model_dir, args.model_dir.name
    from service.reference.prepare import ensure_reference_model

    kind = "random" if args.demo else "grounded_reasoner"
    _progress(f"reference model {kind!r} (built and cached on first use)")
    return ensure_reference_model(kind, args.cache_dir), f"reference-{kind}"


def service_time_ms(backend: VLMBackend, item: VLMInput, calls: int = 15) -> float:
    """A single request's model time: the 20th percentile of a few calls, so that a busy spell
    of a shared machine does not stretch the think time of the whole load test."""
    return percentile([elapsed_ms(lambda: backend.generate([item])) for _ in range(calls)], 20)


def think_time_s(service_ms: float, clients: int, target_utilization: float) -> float:
    """Mean think time so that ``clients`` closed-loop clients keep the model about
    ``target_utilization`` busy when every request costs ``service_ms``."""
    service_s = service_ms / 1000
    return max(0.0, clients * service_s / target_utilization - service_s)


def run_rates(
    run: Callable[[LoadConfig], PhaseSample],
    configs: dict[float, LoadConfig],
    rounds: int,
) -> list[LoadResult]:
    """Every rate once per round, rounds interleaved, so slow spells hit every rate alike."""
    samples: dict[float, list[PhaseSample]] = {rate: [] for rate in configs}
    for index in range(rounds):
        for rate, config in configs.items():
            _progress(f"{config.name}: mirroring {rate:.0%}, round {index + 1}/{rounds}")
            samples[rate].append(run(config))
    return [summarize(configs[rate], samples[rate]) for rate in configs]


def run_rates_until(
    run: Callable[[LoadConfig], PhaseSample],
    configs: dict[float, LoadConfig],
    rounds: int,
    min_requests: int,
    extra_rounds: int,
) -> list[LoadResult]:
    """As run_rates, then more interleaved rounds (at most ``extra_rounds``) while any rate has
    fewer than ``min_requests`` requests."""
    samples: dict[float, list[PhaseSample]] = {rate: [] for rate in configs}

    def one_round(label: str) -> None:
        for rate, config in configs.items():
            _progress(f"{config.name}: mirroring {rate:.0%}, {label}")
            samples[rate].append(run(config))

    for index in range(rounds):
        one_round(f"round {index + 1}/{rounds}")
    for index in range(extra_rounds):
        short = [
            rate
            for rate in configs
            if sum(len(s.latencies_ms) for s in samples[rate]) < min_requests
        ]
        if not short:
            break
        one_round(f"extra round {index + 1} (an arm has < {min_requests} requests)")
    return [summarize(configs[rate], samples[rate]) for rate in configs]


def calibrate(
    run: Callable[[LoadConfig], PhaseSample],
    base: LoadConfig,
    target: float,
    steps: int,
    window_s: float,
    window_requests: int = 40,
    max_window_s: float = 30.0,
) -> tuple[Calibration, float]:
    """Tune the unmirrored closed loop's think time until the model is busy ``target`` (within
    half the tolerance, so the measured arm has room to drift). Each window lasts at least
    ``window_s`` and long enough for about ``window_requests`` requests (at most
    ``max_window_s``), so one
    window's busy share is not the noise of a handful of requests. Returns the calibration,
    whose think time is the step closest to the target, and that step's request rate."""
    calibration = Calibration(
        target=target, tolerance=UTILIZATION_TOLERANCE, think_s=base.think_s, converged=False
    )
    think_s, latency_s, best = base.think_s, 0.0, (float("inf"), base.think_s, 0.0)
    for index in range(steps):
        expected_rate = base.producers / max(1e-3, think_s + latency_s)
        seconds = min(max_window_s, max(window_s, window_requests / expected_rate))
        config = base.model_copy(
            update={"name": "calibration", "think_s": think_s, "duration_s": seconds}
        )
        _progress(
            f"calibration {index + 1}/{steps}: think time {think_s * 1000:.0f} ms, {seconds:.0f} s"
        )
        result = summarize(config, [run(config)])
        utilization = result.utilization if result.utilization is not None else 0.0
        latency_s = (result.mean_ms or 0.0) / 1000
        calibration.steps.append(
            CalibrationStep(
                think_s=think_s,
                utilization=utilization,
                mean_latency_ms=latency_s * 1000,
                requests=result.completed,
            )
        )
        off = abs(utilization - target)
        if off < best[0]:
            best = (off, think_s, result.throughput_rps)
        if off <= UTILIZATION_TOLERANCE / 2:
            break
        think_s = next_think_time_s(think_s, latency_s, utilization, target)
    off, calibration.think_s, rate = best
    calibration.converged = off <= UTILIZATION_TOLERANCE
    return calibration, rate


def arm_duration_s(requests: int, rate_rps: float, rounds: int, floor_s: float) -> float:
    """Seconds per round so that ``rounds`` rounds at ``rate_rps`` give ``requests`` (10% spare),
    at least ``floor_s`` and at most 120 s."""
    if rate_rps <= 0:
        return floor_s
    return min(120.0, max(floor_s, 1.1 * requests / rate_rps / rounds))


def load_configs(
    args: argparse.Namespace, plan: Plan, think_s: float
) -> tuple[dict[float, LoadConfig], dict[float, LoadConfig]]:
    common = {
        "audit_mode": args.audit_mode,
        "max_batch_size": args.max_batch_size,
        "audit_queue_size": args.audit_queue_size,
        "seed": args.seed,
        "warmup_s": plan.warmup_s,
    }
    below = {
        rate: LoadConfig(
            name="below",
            mirror_rate=rate,
            producers=args.clients,
            think_s=think_s,
            duration_s=plan.below_s,
            **common,
        )
        for rate in RATES
    }
    saturated = {
        rate: LoadConfig(
            name="saturation",
            mirror_rate=rate,
            producers=3 * args.max_batch_size,
            think_s=0.0,
            duration_s=plan.saturation_s,
            **common,
        )
        for rate in SATURATION_RATES
    }
    return below, saturated


def sustainable_share(
    run: Callable[[LoadConfig], PhaseSample], base: LoadConfig, mode: str
) -> SustainableShare:
    """The largest of SHARES at which no audit is shed and the queue ends no longer than one
    batch (so it is not growing), at the base config's production load."""
    tried: list[LoadResult] = []
    for share in SHARES:
        config = base.model_copy(
            update={"name": f"sustainable-{mode}", "mirror_rate": share, "audit_mode": mode}
        )
        _progress(f"sustainable share, {mode} mode: trying {share:.0%}")
        result = summarize(config, [run(config)])
        tried.append(result)
        if result.audits_dropped == 0 and result.audits_left <= base.max_batch_size:
            return SustainableShare(mode=mode, share=share, tried=tried)
    return SustainableShare(mode=mode, share=0.0, tried=tried)


def run_http(
    args: argparse.Namespace,
    model_dir: Path,
    scans: list[ScanImage],
    below: dict[float, LoadConfig],
    saturated: dict[float, LoadConfig],
    report: BenchReport,
) -> None:
    from loadtests.bench_http import run_http_phase, served, wait_for_drained_queue

    env = {
        "GROUNDING_MODEL_NAME": report.model,
        "GROUNDING_DEVICE": args.device,
        "GROUNDING_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "GROUNDING_AUDIT_MODE": args.audit_mode,
        "GROUNDING_SAMPLE_RATE": "0",
        "GROUNDING_MAX_BATCH_SIZE": str(args.max_batch_size),
        "GROUNDING_AUDIT_QUEUE_SIZE": str(args.audit_queue_size),
    }
    _progress("starting bentoml serve")
    log_path = args.out.with_suffix(".serve.log")
    _progress(f"bentoml serve logs to {log_path}")
    with served(model_dir, env, log_path) as url:

        def phase(config: LoadConfig) -> PhaseSample:
            wait_for_drained_queue(url)
            return run_http_phase(url, scans, config)

        report.http_below_saturation = run_rates(phase, below, 1)
        report.http_saturation = run_rates(phase, saturated, 1)


def add_notes(report: BenchReport) -> None:
    if report.quick:
        report.notes.append(
            f"Quick run: each arm aimed at {QUICK.requests} requests and the audit cost at "
            f"{QUICK.audit_rounds} rounds, not {FULL.requests} and {FULL.audit_rounds}: the "
            "figures show that the measurement works, not what it measures."
        )
    cores = report.machine.cpu_count
    load = max(report.machine.load_average_start[0], (report.machine.load_average_end or (0,))[0])
    if load > 0.5 * cores:
        report.notes.append(
            f"The machine was not idle (load average up to {load:.1f} on {cores} cores): other "
            "processes shared the CPU, so absolute times are inflated; ratios are interleaved "
            "round by round to share the disturbance."
        )
    for target in report.targets:
        if target.status == "invalid":
            report.notes.append(f"{target.name}: invalid, " + "; ".join(target.reasons) + ".")


def run(args: argparse.Namespace) -> int:
    from audits.backends.transformers_runtime import TransformersRuntime
    from loadtests.bench_micro import audit_cost_benchmark, micro_benchmark

    started = time.perf_counter()
    cpu_at_start = cpu_snapshot()
    plan = QUICK if args.quick else FULL
    model_dir, label = resolve_model(args)
    runtime = TransformersRuntime(
        model_dir, device=args.device, max_new_tokens=args.max_new_tokens, model_name=label
    )
    machine = describe_machine(str(runtime.device))
    report = BenchReport(
        model_dir=str(model_dir),
        model=label,
        quick=args.quick,
        target_utilization=args.target_utilization,
        cost_rounds=plan.audit_rounds,
        max_load=args.max_load if args.max_load is not None else 0.5 * machine.cpu_count,
        settings={
            key: value if isinstance(value, int | float | bool | str) else str(value)
            for key, value in vars(args).items()
        }
        | {"plan": plan.model_dump()},
        machine=machine,
    )
    scans = PayloadPool(n_images=8, seed=args.seed).scans
    scan, other = scans[0], scans[1]
    _progress("runtime micro benchmark")
    report.micro = micro_benchmark(runtime, scan, other, LESION_QUESTION, plan.micro_rounds)
    _progress("audit cost")
    report.audit_cost = audit_cost_benchmark(
        runtime, scan, other, LESION_QUESTION, plan.audit_rounds
    )
    if args.model_dir is None and not args.demo:
        from service.reference.prepare import ensure_reference_model

        _progress("audit cost, one-word model")
        one_word = TransformersRuntime(
            ensure_reference_model(ONE_WORD_MODEL, args.cache_dir),
            device=args.device,
            max_new_tokens=args.max_new_tokens,
            model_name=f"reference-{ONE_WORD_MODEL}",
        )
        report.audit_cost_one_word = audit_cost_benchmark(
            one_word, scan, other, LESION_QUESTION, plan.audit_rounds
        )
    service_ms = service_time_ms(runtime, VLMInput(LESION_QUESTION, scan.image))
    think_s = think_time_s(service_ms, args.clients, args.target_utilization)
    report.settings["calibrated_service_ms"] = service_ms
    below, saturated = load_configs(args, plan, think_s)

    def engine_phase(config: LoadConfig) -> PhaseSample:
        return run_phase(runtime, scans, config)

    report.calibration, rate = calibrate(
        engine_phase,
        below[0.0],
        args.target_utilization,
        plan.calibration_steps,
        plan.calibration_s,
        plan.calibration_requests,
        plan.calibration_max_s,
    )
    below_s = arm_duration_s(plan.requests, rate, plan.rounds, plan.calibration_s)
    below = {
        mirror: config.model_copy(
            update={"think_s": report.calibration.think_s, "duration_s": below_s}
        )
        for mirror, config in below.items()
    }
    report.below_saturation = run_rates_until(
        engine_phase, below, plan.rounds, plan.requests, plan.extra_rounds
    )
    report.saturation = run_rates_until(
        engine_phase, saturated, plan.rounds, plan.requests, plan.extra_rounds
    )
    if not args.skip_sustainable:
        sustainable_base = below[0.0].model_copy(update={"duration_s": plan.below_s})
        report.sustainable = [
            sustainable_share(engine_phase, sustainable_base, mode)
            for mode in ("score", "generate")
        ]
    # before --http: the bentoml serve it starts is another process
    report.other_cpu_cores = other_cpu_cores(cpu_at_start, cpu_snapshot())
    if args.http:
        run_http(args, model_dir, scans, below, saturated, report)
    report.targets = evaluate_targets(report)
    report.machine.load_average_end = os.getloadavg()
    report.duration_s = time.perf_counter() - started
    add_notes(report)
    print(render(report))
    args.out.write_text(report.model_dump_json(indent=2) + "\n")
    _progress(f"wrote {args.out} in {report.duration_s:.0f} s")
    return 0
