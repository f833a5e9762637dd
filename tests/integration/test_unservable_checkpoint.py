"""A checkpoint that cannot be served stops `bentoml serve` with one line naming the problem and
the command that checks it, instead of BentoML restarting the worker forever (issue 29)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from loadtests.processes import free_port
from tests.integration.test_secure_defaults import BENTOML, _serve_env
from tests.support.servers import REPO


def _serve(tmp_path: Path, model_path: Path) -> subprocess.CompletedProcess[str]:
    command = [BENTOML, "serve", "service.service:GroundingService"]
    command += ["--host", "127.0.0.1", "--port", str(free_port())]
    return subprocess.run(
        command,
        cwd=REPO,
        env=_serve_env(tmp_path / "home", GROUNDING_MODEL_PATH=str(model_path)),
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_missing_model_path_stops_before_any_worker(tmp_path: Path) -> None:
    done = _serve(tmp_path, tmp_path / "nonexistent")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "GROUNDING_MODEL_PATH=" in line]
    assert len(lines) == 1, done.stderr[-3000:]
    assert "is not a folder" in lines[0] and "grounding-audit check-model" in lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("model_type", ["no-such-architecture"])
def test_a_config_transformers_cannot_read_stops_too(tmp_path: Path, model_type: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    done = _serve(tmp_path, folder)
    assert done.returncode != 0
    assert "transformers cannot read its config.json" in done.stderr, done.stderr[-3000:]


def test_a_checkpoint_that_fails_in_the_worker_stops_the_service(
    tmp_path: Path, demo_model_dir: Path
) -> None:
    """A readable config whose weights are missing fails only when the worker loads it: the
    worker stops the serve process rather than being restarted."""
    folder = tmp_path / "no-weights"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        source = demo_model_dir / name
        if source.exists():
            (folder / name).write_bytes(source.read_bytes())
    for name in demo_model_dir.glob("*processor*"):
        (folder / name.name).write_bytes(name.read_bytes())
    done = _serve(tmp_path, folder)
    assert done.returncode is not None
    output = done.stdout + done.stderr
    assert output.count("cannot serve:") >= 1, output[-3000:]
    assert "stopping the service" in output
    # stopped, not restarted in a loop: the line appears once per worker at most
    assert output.count("cannot serve:") <= 2, output[-3000:]
