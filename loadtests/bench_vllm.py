"""The three-way benchmark on one checkpoint: the in-process engine, a real vLLM called directly,
and upstream mode (this service in front of that vLLM, audits at a lower vLLM priority).

    make vllm
    .venv/bin/python -m loadtests.bench_vllm [--duration 30] [--rounds 2] [--out FILE]

The checkpoint is the tiny Idefics3 that vLLM's CPU backend serves (``build-family-model
--vllm``, random weights; every output is ``--max-new-tokens`` long). All servers run at once
on this machine and the phases are interleaved, round by round in a rotated order, so a slow
spell of a shared machine hits every arm alike:

- below saturation: ``--producers`` closed-loop clients with exponential think time, the
  production requests of each arm mirrored at 0%, 10% and 100% (``audit`` per request, decided
  from the request id): production p50 and p99 with 95% bootstrap intervals;
- at saturation: ``--saturation-producers`` clients back to back, at 0% and 100%: throughput;
- audits submitted, completed and dropped per phase (the service's own counters; each phase
  starts once the previous one's audits are done).

vLLM direct gets the very chat request upstream mode forwards for production (image as a PNG
data URI, the question, ``max_tokens``, temperature 0, no priority). The closing lines give the
ratio the issue asks for: upstream mode at 100% mirroring over vLLM direct, production p99.

``VllmProcess`` is the project's launcher of a real vLLM OpenAI server (the tests use it too,
through ``tests/support/servers.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from loadtests.processes import REPO, _Process, free_port, wait_until

if TYPE_CHECKING:
    from loadtests.payloads import ScanImage

VLLM_VENV = Path(os.environ.get("GROUNDING_VLLM_VENV", REPO / ".venv-vllm"))
VLLM_PYTHON = VLLM_VENV / "bin" / "python"
LIMIT_MM = '{"image":1,"video":0}'


def vllm_installed() -> bool:
    """Whether ``make vllm`` has run (scripts/vllm_setup.sh writes its stamp last)."""
    return VLLM_PYTHON.exists() and any(VLLM_VENV.glob(".installed-*"))


def vllm_command(
    model_dir: Path, port: int, served_model_name: str, *, priority: bool = True
) -> list[str]:
    """The command line the README documents (DESIGN.md section 7); ``priority=False`` leaves
    out ``--scheduling-policy priority`` (vLLM's default, ``fcfs``)."""
    command = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server"]
    command += ["--model", str(model_dir), "--served-model-name", served_model_name]
    command += ["--dtype", "float32", "--enforce-eager", "--max-model-len", "2048"]
    if priority:
        command += ["--scheduling-policy", "priority"]
    command += ["--limit-mm-per-prompt", LIMIT_MM, "--host", "127.0.0.1", "--port", str(port)]
    return command


class VllmProcess(_Process):
    """A real vLLM OpenAI-compatible server (CPU) on a loopback port, from ``.venv-vllm``.

    ``dev_mode`` sets ``VLLM_SERVER_DEV_MODE=1``, which adds ``GET /server_info`` (the engine
    configuration, scheduler policy included). Nothing is downloaded: the hub is off.
    """

    def __init__(
        self,
        model_dir: Path,
        workdir: Path,
        *,
        served_model_name: str = "tiny-idefics3",
        priority: bool = True,
        dev_mode: bool = False,
        port: int | None = None,
    ) -> None:
        if not VLLM_PYTHON.exists():
            raise RuntimeError(f"no vLLM at {VLLM_PYTHON}: run `make vllm` first")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model = served_model_name
        self.started_at = time.monotonic()
        self.ready_s: float | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(
            VLLM_CPU_KVCACHE_SPACE="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
        )
        if dev_mode:
            env["VLLM_SERVER_DEV_MODE"] = "1"
        command = vllm_command(model_dir, self.port, served_model_name, priority=priority)
        log_path = workdir / f"vllm-{self.port}.log"
        super().__init__(command, log_path, cwd=workdir, env=env)

    def wait_ready(self, timeout_s: float = 600) -> float:
        """Until ``GET /v1/models`` answers; the seconds since the process started."""

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"vLLM exited:\n{self.log_tail()}")
            return httpx.get(f"{self.url}/v1/models", timeout=2).status_code == 200

        if not wait_until(ready, timeout_s, 1.0):
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"vLLM was not ready in {timeout_s:.0f} s:\n{self.log_tail()}")
        self.ready_s = time.monotonic() - self.started_at
        return self.ready_s

    def warm_up(self, image_base64: str, timeout_s: float = 600) -> None:
        """One request with an image, one without, and one with ``prompt_logprobs`` (vLLM's
        first one takes seconds to tens of seconds on CPU), each with a generous timeout."""
        uri = f"data:image/png;base64,{image_base64}"
        with_image = [
            {"type": "image_url", "image_url": {"url": uri}},
            {"type": "text", "text": "warm-up"},
        ]
        for content, extra in (
            (with_image, {}),
            ("warm-up", {}),
            (with_image, {"prompt_logprobs": 0}),
        ):
            body = {
                "model": self.model,
                "messages": [{"role": "user", "content": content}],
                "max_tokens": 2,
                "temperature": 0,
                **extra,
            }
            response = httpx.post(f"{self.url}/v1/chat/completions", json=body, timeout=timeout_s)
            if response.status_code != 200:
                raise RuntimeError(f"vLLM warm-up failed: {response.status_code} {response.text}")


def start_vllm(
    model_dir: Path, workdir: Path, *, warm_image_base64: str, timeout_s: float = 600, **kwargs: Any
) -> VllmProcess:
    """A ready, warmed-up ``VllmProcess``; stopped again if it never gets there."""
    server = VllmProcess(model_dir, workdir, **kwargs)
    try:
        server.wait_ready(timeout_s)
        server.warm_up(warm_image_base64, timeout_s)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


# --- the benchmark ---------------------------------------------------------------------------


def _vllm_request(model: str, max_tokens: int):
    """vLLM direct: the production request upstream mode forwards (``OpenAIBackend``'s
    messages, ``max_tokens``, temperature 0, no priority)."""

    from audits.backends.openai_http import chat_messages
    from audits.contracts.backend import VLMInput

    def build(scan: ScanImage, question: str, request_id: str, audit: bool) -> tuple:
        messages = chat_messages(VLMInput(image=scan.image, question=question))
        body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
        return "/v1/chat/completions", body

    return build


@dataclass
class Arm:
    name: str
    url: str
    build: Any
    metrics_url: str | None
    """The grounding service's URL for its audit counters; None for vLLM direct."""


@dataclass
class Measured:
    arm: str
    rate: float
    saturation: bool
    latencies_ms: list[float] = field(default_factory=list)
    window_s: float = 0.0
    audits: Counter[str] = field(default_factory=Counter)


def bootstrap_quantile(
    values: list[float], q: float, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """The ``q`` quantile and its 95% percentile-bootstrap interval."""
    data = np.asarray(values)
    rng = np.random.default_rng(seed)
    draws = rng.choice(data, size=(n_boot, data.size), replace=True)
    boot = np.quantile(draws, q, axis=1)
    return (
        float(np.quantile(data, q)),
        float(np.quantile(boot, 0.025)),
        float(np.quantile(boot, 0.975)),
    )


def bootstrap_ratio(
    top: list[float], bottom: list[float], q: float, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Ratio of two samples' ``q`` quantiles, with a 95% bootstrap interval (independent
    resamples of each)."""
    a, b = np.asarray(top), np.asarray(bottom)
    rng = np.random.default_rng(seed)
    ratios = np.quantile(rng.choice(a, (n_boot, a.size)), q, axis=1) / np.quantile(
        rng.choice(b, (n_boot, b.size)), q, axis=1
    )
    value = float(np.quantile(a, q) / np.quantile(b, q))
    return value, float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def _phase(
    arm: Arm, scans: list[ScanImage], args: argparse.Namespace, *, rate: float, saturation: bool
) -> tuple[list[float], Counter[str]]:
    from loadtests.bench_openai import _closed_loop, audit_counters, wait_for_audits

    if arm.metrics_url:
        wait_for_audits(arm.metrics_url)
        before = audit_counters(arm.metrics_url)
    producers = args.saturation_producers if saturation else args.producers
    duration = args.saturation_duration if saturation else args.duration
    slug = "".join(c if c.isalnum() else "-" for c in arm.name.lower())
    name = f"{slug}-{int(rate * 100)}{'-sat' if saturation else ''}-{time.monotonic_ns()}"
    latencies = asyncio.run(
        _closed_loop(
            arm.url,
            arm.build,
            scans,
            producers=producers,
            think_s=0.0 if saturation else args.think,
            duration_s=duration,
            rate=rate,
            name=name,
            seed=args.seed,
        )
    )
    audits: Counter[str] = Counter()
    if arm.metrics_url:
        wait_for_audits(arm.metrics_url)
        after = audit_counters(arm.metrics_url)
        audits = Counter({k: after[k] - before[k] for k in ("submitted", "completed", "dropped")})
    print(
        f"{name}: n={len(latencies)} p50={statistics.median(latencies):.0f} ms "
        f"audits={dict(audits)}",
        flush=True,
    )
    return latencies, audits


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:.{digits}f}"


def render(measured: list[Measured], verdict: dict[str, Any], meta: dict[str, Any]) -> str:
    below = {(m.arm, m.rate): m for m in measured if not m.saturation}
    sat = {(m.arm, m.rate): m for m in measured if m.saturation}
    lines = [
        f"Machine: {meta['cpu']}, {meta['cpu_count']} cores (shared); checkpoint "
        f"{meta['model']} (random weights, {meta['max_new_tokens']} new tokens per output); "
        f"vLLM {meta['vllm']} on CPU; {meta['producers']} clients, mean think "
        f"{meta['think_s']} s below saturation, {meta['saturation_producers']} back to back at "
        f"saturation; {meta['rounds']} interleaved rounds of {meta['duration_s']:.0f} s.",
        "",
        "| arm | mirrored | n | production p50 ms [95% CI] | production p99 ms [95% CI] "
        "| saturation req/s | audits submitted / completed / dropped |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (arm, rate), m in below.items():
        p50 = bootstrap_quantile(m.latencies_ms, 0.5)
        p99 = bootstrap_quantile(m.latencies_ms, 0.99)
        s = sat.get((arm, rate))
        throughput = _fmt(len(s.latencies_ms) / s.window_s, 1) if s else "-"
        audits = (
            f"{m.audits['submitted']} / {m.audits['completed']} / {m.audits['dropped']}"
            if arm != "vLLM direct"
            else "-"
        )
        if s and arm != "vLLM direct":
            audits += (
                f" (saturation: {s.audits['submitted']} / {s.audits['completed']} / "
                f"{s.audits['dropped']})"
            )
        lines.append(
            f"| {arm} | {int(rate * 100)}% | {len(m.latencies_ms)} "
            f"| {_fmt(p50[0])} [{_fmt(p50[1])}, {_fmt(p50[2])}] "
            f"| {_fmt(p99[0])} [{_fmt(p99[1])}, {_fmt(p99[2])}] | {throughput} | {audits} |"
        )
    lines.append("")
    for label, (value, low, high) in verdict["ratios"].items():
        lines.append(f"- {label}: {value:.2f}x [{low:.2f}, {high:.2f}]")
    lines.append(f"- {verdict['answer']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    from loadtests.bench_http import served
    from loadtests.bench_openai import _predict_request
    from loadtests.bench_report import describe_machine
    from loadtests.payloads import PayloadPool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="checkpoint (default: build-family-model --vllm)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    parser.add_argument("--saturation-duration", type=float, default=15.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--saturation-producers", type=int, default=8)
    parser.add_argument("--think", type=float, default=0.25, help="mean think time (s)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--upstream-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a GROUNDING_* setting of the upstream-mode service (repeatable)",
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args = parser.parse_args()
    if not vllm_installed():
        raise SystemExit("no vLLM: run `make vllm` first")
    if args.model is None:
        from reference_models.families.registry import ensure_vllm_checkpoint
        from service.settings import get_settings

        args.model = ensure_vllm_checkpoint(get_settings().model.cache_dir)
    started = time.monotonic()
    machine = describe_machine("cpu")
    scans = PayloadPool(n_images=8, seed=args.seed).scans
    env = {
        "GROUNDING_SAMPLE_RATE": "0",
        "GROUNDING_MAX_NEW_TOKENS": str(args.max_new_tokens),
        "GROUNDING_DEVICE": "cpu",
        "GROUNDING_DTYPE": "float32",
    }
    measured: dict[tuple[str, float, bool], Measured] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vllm-") as tmp, ExitStack() as stack:
        logs = Path(tmp)
        vllm = start_vllm(args.model, logs / "vllm", warm_image_base64=scans[0].base64)
        stack.callback(vllm.stop)
        print(f"vLLM ready in {vllm.ready_s:.0f} s", flush=True)
        in_process = stack.enter_context(
            served(args.model, {**env, "GROUNDING_MODEL_NAME": "in-process"}, logs / "in.log")
        )
        upstream_env = {
            **env,
            "GROUNDING_MODEL_NAME": "upstream",
            "GROUNDING_UPSTREAM_URL": f"{vllm.url}/v1",
            "GROUNDING_UPSTREAM_MODEL": vllm.model,
            **dict(setting.split("=", 1) for setting in args.upstream_setting),
        }
        upstream = stack.enter_context(served(args.model, upstream_env, logs / "up.log"))
        arms = [
            Arm("vLLM direct", vllm.url, _vllm_request(vllm.model, args.max_new_tokens), None),
            Arm("in-process engine", in_process, _predict_request, in_process),
            Arm("upstream mode over vLLM", upstream, _predict_request, upstream),
        ]
        plan = [(arm, rate, False) for arm in arms for rate in (0.0, 0.1, 1.0)]
        plan += [(arm, rate, True) for arm in arms for rate in (0.0, 1.0)]
        plan = [(a, r, s) for a, r, s in plan if not (a.metrics_url is None and r > 0)]
        for round_ in range(args.rounds):
            shift = round_ % len(plan)
            for arm, rate, saturation in plan[shift:] + plan[:shift]:
                latencies, audits = _phase(arm, scans, args, rate=rate, saturation=saturation)
                key = (arm.name, rate, saturation)
                entry = measured.setdefault(key, Measured(arm.name, rate, saturation))
                entry.latencies_ms += latencies
                entry.window_s += args.saturation_duration if saturation else args.duration
                entry.audits.update(audits)
        vllm_version = httpx.get(f"{vllm.url}/version", timeout=10).json()["version"]
    direct = measured[("vLLM direct", 0.0, False)].latencies_ms
    up0 = measured[("upstream mode over vLLM", 0.0, False)].latencies_ms
    up100 = measured[("upstream mode over vLLM", 1.0, False)].latencies_ms
    ratios = {
        "upstream 100% / vLLM direct, production p99": bootstrap_ratio(up100, direct, 0.99),
        "upstream 100% / vLLM direct, production p50": bootstrap_ratio(up100, direct, 0.5),
        "upstream 0% / vLLM direct, production p99 (the wrapper alone)": bootstrap_ratio(
            up0, direct, 0.99
        ),
        "upstream 100% / upstream 0%, production p99 (the audits alone)": bootstrap_ratio(
            up100, up0, 0.99
        ),
    }
    p99_ratio = ratios["upstream 100% / vLLM direct, production p99"][0]
    within = p99_ratio <= 1.10
    verdict = {
        "ratios": ratios,
        "within_1_10": within,
        "answer": (
            f"Upstream mode with priority at 100% mirroring keeps production p99 within 1.10x "
            f"of vLLM direct: {'yes' if within else 'no'} ({p99_ratio:.2f}x)."
        ),
    }
    meta = {
        "cpu": machine.cpu,
        "cpu_count": machine.cpu_count,
        "model": str(args.model.name),
        "vllm": vllm_version,
        "max_new_tokens": args.max_new_tokens,
        "producers": args.producers,
        "saturation_producers": args.saturation_producers,
        "think_s": args.think,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "upstream_settings": args.upstream_setting,
        "vllm_start_s": vllm.ready_s,
        "bench_s": time.monotonic() - started,
        "load_average_end": os.getloadavg(),
        "load_average_start": machine.load_average_start,
    }
    table = render(list(measured.values()), verdict, meta)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.out:
        figures = {
            "meta": meta,
            "verdict": {k: v for k, v in verdict.items()},
            "phases": [
                {
                    "arm": m.arm,
                    "mirror_rate": m.rate,
                    "saturation": m.saturation,
                    "n": len(m.latencies_ms),
                    "window_s": m.window_s,
                    "p50_ms": bootstrap_quantile(m.latencies_ms, 0.5),
                    "p99_ms": bootstrap_quantile(m.latencies_ms, 0.99),
                    "audits": dict(m.audits),
                }
                for m in measured.values()
            ],
        }
        args.out.write_text(json.dumps(figures, indent=2, default=list))


if __name__ == "__main__":
    main()
