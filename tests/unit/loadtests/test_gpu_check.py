"""The GPU lane's argument and plan logic, and its report, without a GPU (the dry run itself,
scripts/gpu-check.sh --device cpu, takes minutes: see docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loadtests.gpu_check import TOTAL_BUDGET_S, Outcome, parse_args, plan, report, run_step

REPO = Path(__file__).resolve().parents[3]


def test_cuda_runs_every_family_in_bf16_within_eight_minutes() -> None:
    args = parse_args([])
    steps = plan(args)
    assert [s.name for s in steps] == ["device", "families", "serve", "bench"]
    assert args.dtype == "bfloat16" and not args.dry_run
    families = steps[1]
    assert families.env["GROUNDING_TEST_DEVICE"] == "cuda"
    assert families.env["GROUNDING_TEST_DTYPE"] == "bfloat16"
    assert families.env["GROUNDING_TEST_FAMILIES"] == ""  # every family
    bench = steps[3].command
    assert "--quick" in bench and bench[bench.index("--device") + 1] == "cuda"
    assert "--demo" not in bench and "--skip-sustainable" not in bench
    assert sum(s.budget_s for s in steps) <= TOTAL_BUDGET_S < 8 * 60


def test_cpu_is_a_dry_run_of_the_same_steps() -> None:
    args = parse_args(["--device", "cpu", "--out", "/tmp/x/report.md"])
    steps = plan(args)
    assert args.dry_run and args.dtype == "float32"
    assert steps[1].env["GROUNDING_TEST_FAMILIES"] == "qwen2_vl"
    assert "--demo" in steps[3].command and "--skip-sustainable" in steps[3].command
    assert steps[3].command[steps[3].command.index("--out") + 1] == "/tmp/x/report.bench.json"


def test_the_report_names_failures_and_the_dry_run(tmp_path: Path) -> None:
    args = parse_args(["--device", "cpu", "--out", str(tmp_path / "r.md")])
    text = report(args, [Outcome("device", True, 0.1, "torch"), Outcome("serve", False, 3, "x")])
    assert "DRY RUN on CPU" in text and "| serve | FAILED | 3 |" in text


def test_a_step_over_its_budget_fails_with_a_reason() -> None:
    args = parse_args(["--device", "cpu"])
    step = plan(args)[1]
    step.command, step.budget_s = ["sleep", "5"], 1
    outcome = run_step(step)
    assert not outcome.ok and "timed out after 1 s" in outcome.detail


def test_the_script_prints_its_plan() -> None:
    done = subprocess.run(
        ["scripts/gpu-check.sh", "--device", "cpu", "--plan"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "families [140 s]" in done.stdout and "total budget" in done.stdout
