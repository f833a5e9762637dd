"""`bentoml build` makes a Bento of the service from bentofile.yaml, without local artefacts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bentoml_build_succeeds_and_packs_only_the_code(tmp_path: Path) -> None:
    bentoml = Path(sys.executable).parent / "bentoml"
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "True"}
    result = subprocess.run(
        [str(bentoml), "build", "--output", "tag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    bentos = list((tmp_path / "bentos").glob("*/*/src"))
    assert len(bentos) == 1
    packed = {p.relative_to(bentos[0]).as_posix() for p in bentos[0].rglob("*") if p.is_file()}
    assert "service/service.py" in packed and "audits/science/flags.py" in packed
    assert not any(p.startswith(("audits/offline/", "audits/reports/", "cli/")) for p in packed)
    assert not any(p.startswith((".venv", "tests/", ".cache")) for p in packed)
    assert not any(p.endswith(".safetensors") for p in packed), "no weights in the Bento"
