"""`bentoml serve` on a reachable address with the development key and HMAC secret refuses to
start, with one line saying why and how to fix it (issue 28: it started silently and the key
printed in the README read records). On loopback, as `make run` serves, it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadtests.processes import free_port
from tests.support.servers import REPO

BENTOML = str(Path(sys.executable).parent / "bentoml")


def _serve_env(home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUNDING_")}
    return {
        **env,
        **settings,
        "PYTHONPATH": str(REPO),
        "BENTOML_DO_NOT_TRACK": "True",
        "BENTOML_HOME": str(home),
        "GROUNDING_REDIS_URL": "",
    }


def test_the_default_host_with_development_secrets_refuses_to_start(tmp_path: Path) -> None:
    command = [BENTOML, "serve", "service.service:GroundingService", "--port", str(free_port())]
    done = subprocess.run(  # no --host: BentoML's default, 0.0.0.0
        command,
        cwd=REPO,
        env=_serve_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "refusing to serve" in line]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("refusing to serve on 0.0.0.0 with the public development value")
    assert "GROUNDING_API_KEYS=$(openssl rand -hex 24)" in lines[0]
    assert not (tmp_path / "home" / "prometheus_multiproc_dir.instances").exists()


def test_run_sh_binds_loopback() -> None:
    script = (REPO / "scripts" / "run.sh").read_text()
    assert '--host "${BENTOML_HOST:-127.0.0.1}"' in script
