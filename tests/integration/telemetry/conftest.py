"""Fixtures of the telemetry tests: one redis-server or a Redis Cluster, and clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py

from tests.support.servers import RedisCluster, RedisServer, redis_cluster, redis_server
from tests.support.telemetry import Target, redis_client


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as running:
        yield running


@pytest.fixture(params=["single", "cluster"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "single":
        with redis_server(tmp_path) as server:
            yield Target(server.url, server.port, cluster=False)
    else:
        running: RedisCluster = request.getfixturevalue("cluster")
        running.flush()
        yield Target(running.url, running.ports[0], cluster=True)


@pytest.fixture
def target_client(target: Target) -> Iterator[redis_py.Redis]:
    connection = target.client()
    yield connection
    connection.close()


@pytest.fixture
def client(redis: RedisServer) -> Iterator[redis_py.Redis]:
    connection = redis_client(redis)
    yield connection
    connection.close()
