from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import RedisServer, redis_server

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where reference models are cached; reuse GROUNDING_CACHE_DIR so runs share them."""
    configured = os.environ.get("GROUNDING_CACHE_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("grounding-cache")


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight tiny Qwen2-VL written by the project's own builder."""
    from service.demo_model import write_demo_checkpoint

    return write_demo_checkpoint(tmp_path_factory.mktemp("demo-model") / "tiny-qwen2-vl", seed=0)


@pytest.fixture(scope="session")
def grounded_model_dir(cache_dir: Path) -> Path:
    from service.prepare import ensure_reference_model

    return ensure_reference_model("grounded", cache_dir)


@pytest.fixture(scope="session")
def text_only_model_dir(cache_dir: Path) -> Path:
    from service.prepare import ensure_reference_model

    return ensure_reference_model("text_only", cache_dir)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server
