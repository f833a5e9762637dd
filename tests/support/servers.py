"""Real servers for integration tests: redis-server and `bentoml serve` (the launchers of
``loadtests.processes``, shared with the benchmark and the demo), a real vLLM OpenAI server
(``loadtests.bench_vllm``, shared with the three-way benchmark) and a local Redis Cluster."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loadtests.bench_vllm import VllmProcess, vllm_installed
from loadtests.bench_vllm import start_vllm as bench_start_vllm
from loadtests.processes import RedisProcess, ServeProcess
from loadtests.processes import wait_until as processes_wait_until

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


RedisServer = RedisProcess
ServedService = ServeProcess
VllmServer = VllmProcess


def wait_until(check: Callable[[], object], timeout: float, interval: float = 0.2) -> bool:
    """``loadtests.processes.wait_until``, treating any error as "not yet"."""
    return processes_wait_until(check, timeout, interval, retry_on=(Exception,))


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisProcess(workdir)
    try:
        yield server
    finally:
        server.stop()


def start_service(env: Mapping[str, str], log_path: Path, *, timeout: float = 240) -> ServedService:
    """`bentoml serve` on a free port, ready; its own BENTOML_HOME beside ``log_path``."""
    served = ServeProcess(env, log_path.parent, log_path=log_path)
    served.wait_ready(timeout)
    return served


def start_vllm(
    model_dir: Path,
    workdir: Path,
    *,
    priority: bool = True,
    dev_mode: bool = False,
    timeout: float = 600,
) -> VllmServer:
    """A real vLLM (``make vllm``) serving ``model_dir`` on a free port: ready, and warmed up
    with an image request, a text request and a ``prompt_logprobs`` request (generous timeout:
    two shared cores). ``priority=False`` starts it without ``--scheduling-policy priority``."""
    from tests.support.images import png_bytes

    if not vllm_installed():
        raise RuntimeError("no vLLM in .venv-vllm: run `make vllm` first")
    warm = base64.b64encode(png_bytes(99)).decode()
    return bench_start_vllm(
        model_dir,
        workdir,
        warm_image_base64=warm,
        timeout_s=timeout,
        priority=priority,
        dev_mode=dev_mode,
    )


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
