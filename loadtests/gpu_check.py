"""The GPU lane (scripts/gpu-check.sh): what only an accelerator run can show, in one report.

Steps, each with its own time budget (together under 8 minutes):

1. ``device``: the accelerator and the software that drives it (torch, CUDA, the card);
2. ``families``: tests/device/test_device_families.py on the device in the serving dtype
   (bfloat16 on CUDA): batched generate = one by one, score = a plain forward pass, and
   production served inside an audit's generation changes no audit output, with the
   tolerances that file states;
3. ``serve``: one mirrored audit through a real ``bentoml serve`` on the device;
4. ``bench``: ``grounding-audit bench --quick`` on the device.

``--device cpu`` is the dry run: the same steps on this machine, in float32, one family and the
random demo model, so that the lane is exercised where no GPU is (a few minutes on 2 cores).
``--plan`` prints the steps and their commands without running them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOTAL_BUDGET_S = 450
DRY_RUN_FAMILIES = ("qwen2_vl",)


@dataclass
class Step:
    name: str
    what: str
    budget_s: int
    command: list[str] = field(default_factory=list)
    """A subprocess to run; empty for a step run in this process."""
    env: dict[str, str] = field(default_factory=dict)
    run: Callable[[], str] | None = None


@dataclass
class Outcome:
    name: str
    ok: bool
    seconds: float
    detail: str


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/gpu-check.sh", description=__doc__)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (dry run)")
    parser.add_argument(
        "--dtype", default=None, help="bfloat16 on cuda, float32 on cpu unless given"
    )
    parser.add_argument("--out", type=Path, default=None, help="the report (Markdown)")
    parser.add_argument("--model-dir", type=Path, default=None, help="model for serve and bench")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="reference and family models (settings)"
    )
    parser.add_argument("--families", default=None, help="comma-separated (default: all)")
    parser.add_argument("--plan", action="store_true", help="print the steps, run nothing")
    args = parser.parse_args(argv)
    if args.cache_dir is None:
        from service.settings import Settings

        args.cache_dir = Settings().model.cache_dir
    dry = not args.device.startswith("cuda")
    args.dry_run = dry
    args.dtype = args.dtype or ("float32" if dry else "bfloat16")
    if args.families is None:
        args.families = ",".join(DRY_RUN_FAMILIES) if dry else ""
    if args.out is None:
        args.out = Path("out") / f"gpu-check-{args.device.replace(':', '')}.md"
    return args


def plan(args: argparse.Namespace) -> list[Step]:
    python = sys.executable
    test_env = {
        "GROUNDING_TEST_DEVICE": args.device,
        "GROUNDING_TEST_DTYPE": args.dtype,
        "GROUNDING_TEST_FAMILIES": args.families,
        "GROUNDING_CACHE_DIR": str(args.cache_dir),
    }
    bench = [
        python,
        "-m",
        "cli.main",
        "bench",
        "--quick",
        "--device",
        args.device,
        "--cache-dir",
        str(args.cache_dir),
        "--out",
        str(args.out.with_suffix(".bench.json")),
    ]
    if args.model_dir is not None:
        bench += ["--model-dir", str(args.model_dir)]
    elif args.dry_run:
        bench.append("--demo")
    if args.dry_run:  # two CPU cores: the lane's plumbing (short random outputs), not figures
        bench += ["--skip-sustainable", "--max-new-tokens", "8"]
    return [
        Step("device", "the accelerator, torch and CUDA versions", 20, run=lambda: device(args)),
        Step(
            "families",
            f"family tests on {args.device} in {args.dtype}"
            + (f" ({args.families})" if args.families else " (every family)"),
            140,
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/device"],
            test_env,
        ),
        Step(
            "serve",
            f"one mirrored audit through bentoml serve on {args.device}",
            80,
            run=lambda: serve_check(args),
        ),
        Step("bench", f"grounding-audit bench --quick on {args.device}", 200, bench),
    ]


def device(args: argparse.Namespace) -> str:
    import torch

    lines = [f"torch {torch.__version__}, device {args.device}, dtype {args.dtype}"]
    if args.dry_run:
        lines.append("dry run on CPU: no accelerator used")
        return "\n".join(lines)
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available to torch: this is not a GPU machine")
    lines.append(
        f"{torch.cuda.get_device_name()} (CUDA {torch.version.cuda}, "
        f"bf16 supported: {torch.cuda.is_bf16_supported()})"
    )
    return "\n".join(lines)


def serve_check(args: argparse.Namespace) -> str:
    import httpx

    from loadtests.bench_http import audit_counters, served
    from loadtests.payloads import PayloadPool
    from reference_models.demo_model import write_demo_checkpoint

    model_dir = args.model_dir
    if model_dir is None:
        model_dir = write_demo_checkpoint(args.out.parent / "gpu-check-demo-model", seed=0)
    env = {
        "GROUNDING_DEVICE": args.device,
        "GROUNDING_DTYPE": args.dtype,
        "GROUNDING_SAMPLE_RATE": "0",
        "GROUNDING_MAX_NEW_TOKENS": "16",
    }
    scan = PayloadPool(n_images=2, seed=0).scans[0]
    with served(model_dir, env, args.out.with_suffix(".serve.log")) as url:
        reply = httpx.post(
            f"{url}/predict",
            json={"image_base64": scan.base64, "question": "Is there a lesion?", "audit": True},
            timeout=120,
        )
        reply.raise_for_status()
        body = reply.json()
        deadline = time.monotonic() + 60
        counts = audit_counters(url)
        while counts["completed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
            counts = audit_counters(url)
    if counts["completed"] < 1:
        raise RuntimeError(f"the mirrored audit did not complete within 60 s: {dict(counts)}")
    return f"answer {body.get('answer')!r}; audits {dict(counts)}"


def run_step(step: Step) -> Outcome:
    started = time.monotonic()
    try:
        if step.run is not None:
            detail, ok = step.run(), True
        else:
            done = subprocess.run(
                step.command,
                cwd=REPO,
                env={**os.environ, **step.env},
                capture_output=True,
                text=True,
                timeout=step.budget_s,
                check=False,
            )
            detail, ok = (done.stdout + done.stderr)[-6000:], done.returncode == 0
    except subprocess.TimeoutExpired as error:
        out = "".join(
            part.decode() if isinstance(part, bytes) else (part or "")
            for part in (error.stdout, error.stderr)
        )
        detail, ok = f"timed out after {step.budget_s} s\n{out[-3000:]}", False
    except Exception as error:
        detail, ok = f"{type(error).__name__}: {error}", False
    return Outcome(step.name, ok, time.monotonic() - started, detail.strip())


def report(args: argparse.Namespace, outcomes: Sequence[Outcome]) -> str:
    kind = "DRY RUN on CPU" if args.dry_run else f"{args.device} in {args.dtype}"
    lines = [
        f"# GPU check ({kind}, {datetime.now(UTC).isoformat(timespec='seconds')})",
        "",
        "| step | result | seconds |",
        "|---|---|---|",
        *(f"| {o.name} | {'ok' if o.ok else 'FAILED'} | {o.seconds:.0f} |" for o in outcomes),
        "",
    ]
    for outcome in outcomes:
        lines += [f"## {outcome.name}", "", "```", outcome.detail, "```", ""]
    bench_json = args.out.with_suffix(".bench.json")
    if bench_json.is_file():
        targets = json.loads(bench_json.read_text()).get("targets", [])
        lines += ["## bench targets", ""]
        lines += [f"- {t['name']}: {t['value']:.2f} ({t.get('status', '')})" for t in targets]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    steps = plan(args)
    if args.plan:
        for step in steps:
            command = " ".join(step.command) if step.command else "(in process)"
            print(f"{step.name} [{step.budget_s} s]: {step.what}: {command}")
        print(f"total budget {sum(s.budget_s for s in steps)} s; report {args.out}")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for step in steps:
        print(f"[gpu-check] {step.name}: {step.what}", file=sys.stderr, flush=True)
        outcomes.append(run_step(step))
        if step.name == "device" and not outcomes[-1].ok:
            break
    args.out.write_text(report(args, outcomes))
    print(f"[gpu-check] wrote {args.out}", file=sys.stderr, flush=True)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
