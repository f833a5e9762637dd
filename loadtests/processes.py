"""Real local processes for benchmarks and demos: redis-server, `bentoml serve`, Prometheus.

Each runs on a loopback port, logs to a file and stops its whole process group.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import redis

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], object],
    timeout_s: float,
    interval_s: float = 0.5,
    *,
    retry_on: tuple[type[Exception], ...] = (httpx.HTTPError,),
) -> bool:
    """Whether ``check`` became true within ``timeout_s``; errors in ``retry_on`` count as not
    yet, any other error ends the wait."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except retry_on:
            pass
        time.sleep(interval_s)
    return False


def _binary(name: str, apt_package: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (apt-get install {apt_package})")
    return found


class _Process:
    """A child process in its own session, logging to ``log_path``."""

    def __init__(self, command: Sequence[str], log_path: Path, **popen: object) -> None:
        self.command = list(command)
        self.log_path = log_path
        self._popen = popen
        self.start()

    def start(self) -> None:
        """Spawn the command (again, after a stop or a kill: same port, same files)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **self._popen,  # type: ignore[arg-type]
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log()[-chars:]

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 30) -> int | None:
        """Signal the process group and wait (SIGKILL after ``timeout_s``); the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


class RedisProcess(_Process):
    """A throwaway redis-server (no snapshots, no append-only file); ready when it answers."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        workdir.mkdir(parents=True, exist_ok=True)
        command = [_binary("redis-server", "redis-server"), "--port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(workdir)]
        super().__init__(command, workdir / f"redis-{self.port}.log")

    def start(self) -> None:
        super().start()
        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            ready = wait_until(client.ping, 10, 0.1, retry_on=(redis.RedisError,))
        finally:
            client.close()
        if not ready:
            self.stop(signal.SIGKILL)
            raise RuntimeError(
                f"redis-server did not answer on port {self.port}:\n{self.log_tail()}"
            )


class ServeProcess(_Process):
    """`bentoml serve` of the grounding service; ``env`` adds GROUNDING_* settings."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        full_env = {
            **os.environ,
            **env,
            "PYTHONPATH": str(REPO),
            "BENTOML_DO_NOT_TRACK": "True",
            # its own Prometheus multiprocess folder: BentoML wipes the one under its home at
            # start-up, which would reset the counters of another server on the machine
            "BENTOML_HOME": str(workdir / f"bentoml-home-{self.port}"),
        }
        command = [_binary("bentoml", "(pip) bentoml"), "serve", "service.service:GroundingService"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        log_path = log_path or workdir / f"serve-{self.port}.log"
        super().__init__(command, log_path, cwd=REPO, env=full_env)

    def wait_ready(self, timeout_s: float = 240) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"bentoml serve exited:\n{self.log_tail()}")
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200

        if not wait_until(ready, timeout_s):
            self.stop(signal.SIGKILL)
            message = f"bentoml serve was not ready in {timeout_s:.0f} s:\n{self.log_tail()}"
            raise RuntimeError(message)


class PrometheusProcess(_Process):
    """A real Prometheus scraping ``targets`` every second with the rule files in ``rules_dir``.

    Targets come from a file (``file_sd_configs``), so ``set_targets`` follows replicas that
    move, as service discovery does in a cluster.
    """

    def __init__(self, workdir: Path, targets: Sequence[str], rules_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.targets_file = workdir / "targets.json"
        self.set_targets(targets)
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f'rule_files: ["{rules_dir}/*.yml"]\n'
            "scrape_configs:\n  - job_name: grounding-audit\n"
            f"    file_sd_configs:\n      - files: ['{self.targets_file}']\n"
            "        refresh_interval: 1s\n"
        )
        command = [
            _binary("prometheus", "prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'db'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        super().__init__(command, workdir / "prometheus.log")

    def set_targets(self, targets: Sequence[str]) -> None:
        partial = self.targets_file.with_suffix(".partial")
        partial.write_text(json.dumps([{"targets": list(targets)}]))
        os.replace(partial, self.targets_file)

    def wait_ready(self, timeout_s: float = 30) -> None:
        if not wait_until(lambda: httpx.get(f"{self.url}/-/ready").status_code == 200, timeout_s):
            raise RuntimeError(f"prometheus was not ready:\n{self.log_tail()}")

    def query_value(self, expr: str) -> float | None:
        """The value of an instant query that returns one series, else None."""
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5).json()
        result = body.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def alert_states(self) -> dict[str, str]:
        """``{alertname: state}`` of the active alerts (pending or firing)."""
        alerts = httpx.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return {alert["labels"]["alertname"]: alert["state"] for alert in alerts}
