"""Real servers for integration tests: redis-server and `bentoml serve`, on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.processes import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def wait_until(check, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def start(self) -> None:
        self.process = _spawn_redis(self.port, self.workdir)


def _spawn_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    if not wait_until(lambda: client.ping(), 10):
        process.kill()
        raise RuntimeError("redis-server did not start")
    return process


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    port = free_port()
    server = RedisServer(port, _spawn_redis(port, workdir), workdir)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class ServedService:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


def start_service(env: Mapping[str, str], log_path: Path, *, timeout: float = 240) -> ServedService:
    port = free_port()
    # each server gets its own BENTOML_HOME: BentoML wipes the Prometheus multiprocess folder
    # under it at start-up, which would reset the counters of a server already running
    bentoml_home = log_path.parent / f"bentoml-home-{port}"
    full_env = {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        **env,
        "PYTHONPATH": str(REPO),
        "BENTOML_DO_NOT_TRACK": "True",
    }
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            str(VENV_BIN / "bentoml"),
            "serve",
            "service.service:GroundingService",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        cwd=REPO,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    served = ServedService(url, process, log_path)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited:\n{served.log()[-3000:]}")
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return served
        except RuntimeError:
            raise
        except Exception:
            pass
        time.sleep(0.5)
    served.stop(signal.SIGKILL)
    raise RuntimeError(f"bentoml serve was not ready in {timeout}s:\n{served.log()[-3000:]}")


@dataclass
class RedisCluster:
    """A real three-master Redis Cluster on loopback ports (no replicas)."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def flush(self) -> None:
        import redis

        for port in self.ports:
            client = redis.Redis(port=port)
            client.flushall()
            client.script_flush()
            client.close()


def free_cluster_port() -> int:
    """A free port whose cluster-bus port (port + 10000) is free too."""
    import random

    for _ in range(200):
        port = random.randint(20_000, 45_000)
        with socket.socket() as first, socket.socket() as bus:
            try:
                first.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@contextmanager
def redis_cluster(workdir: Path, masters: int = 3) -> Iterator[RedisCluster]:
    import redis

    binary = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if binary is None or cli is None:
        raise RuntimeError("redis-server and redis-cli are needed (apt-get install redis-server)")
    ports = [free_cluster_port() for _ in range(masters)]
    processes = []
    try:
        for port in ports:
            node_dir = workdir / f"node-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            processes.append(
                subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(node_dir),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in ports:
            client = redis.Redis(port=port)
            if not wait_until(lambda c=client: c.ping(), 10):
                raise RuntimeError(f"cluster node on port {port} did not start")
            client.close()
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        def healthy() -> bool:
            for port in ports:
                client = redis.Redis(port=port, decode_responses=True)
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                finally:
                    client.close()
            return True

        if not wait_until(healthy, 30):
            raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
        yield RedisCluster(ports, processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=10)
