"""`grounding-audit run --openai-url`: the offline audit of an OpenAI-compatible endpoint (this
service's own /v1), checked against the same checkpoint run in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audits.data.phantom import make_phantom
from tests.support.servers import ServedService

CLI = str(Path(sys.executable).parent / "grounding-audit")


def _run(manifest: Path, out: Path, *target: str, extra: tuple[str, ...] = ()):
    command = [
        CLI,
        "run",
        "--manifest",
        str(manifest),
        *target,
        "--out",
        str(out),
        "--no-progress",
        "--n-boot",
        "100",
        "--max-new-tokens",
        "8",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def _outputs(out: Path) -> dict[str, dict[str, str]]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {
        row["id"]: {c: o["output"] for c, o in row["outcomes"].items()}
        for row in sorted(rows, key=lambda r: r["index"])
    }


def test_openai_endpoint_audit_equals_the_in_process_audit(
    demo_service: ServedService, demo_model_dir: Path, tmp_path: Path
) -> None:
    manifest = make_phantom(tmp_path / "data", 2, seed=9)
    remote, local = tmp_path / "remote", tmp_path / "local"
    target = ("--openai-url", f"{demo_service.url}/v1", "--concurrency", "2", "--batch-items", "2")

    refused = _run(manifest, tmp_path / "refused", *target, extra=("--mode", "both"))
    assert refused.returncode == 2
    assert "prompt log-probabilities" in refused.stderr and "--mode generate" in refused.stderr

    first = _run(manifest, remote, *target, extra=("--limit", "2"))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "generate mode only" in first.stderr, "the detected mode is stated"
    resumed = _run(manifest, remote, *target)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "2 taken from earlier results" in resumed.stdout, "whole groups resume"

    in_process = _run(manifest, local, "--model", str(demo_model_dir), extra=("--mode", "generate"))
    assert in_process.returncode == 0, in_process.stderr[-3000:]
    remote_outputs, local_outputs = _outputs(remote), _outputs(local)
    assert len(remote_outputs) == len(manifest.read_text().splitlines())
    assert remote_outputs == local_outputs, "same model, same greedy outputs, every condition"
    assert all(set(o) == {"real", "shuffled", "blank", "no_image"} for o in remote_outputs.values())
    report = json.loads((remote / "report.json").read_text())
    assert report["metrics"]["overall"]["conditions"]["shuffled"]["run"] == len(remote_outputs)
