from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import RedisServer, ServedService, redis_server, start_service

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
    from reference_models.demo_model import write_demo_checkpoint

    return write_demo_checkpoint(tmp_path_factory.mktemp("demo-model") / "tiny-qwen2-vl", seed=0)


@pytest.fixture(scope="session")
def phantom_data(cache_dir: Path):  # -> reference_models.phantom_data.PhantomData
    from reference_models.phantom_data import ensure_phantom_data

    return ensure_phantom_data(cache_dir)


TRAINED_REFERENCE_MODELS = (
    "grounded_reasoner",
    "shortcut_reasoner",
    "blind_reasoner",
    "grounded",
    "text_only",
)


@pytest.fixture(scope="session")
def reference_models(cache_dir: Path) -> dict[str, Path]:
    """Every trained reference model, built once (cached) and in parallel on a fresh machine:
    one torch thread per model, so two cores train two models at once."""
    from reference_models.phantom_data import ensure_phantom_data
    from service.reference.prepare import ensure_reference_models

    ensure_phantom_data(cache_dir)
    return ensure_reference_models(TRAINED_REFERENCE_MODELS, cache_dir)


@pytest.fixture(scope="session")
def grounded_model_dir(reference_models: dict[str, Path]) -> Path:
    return reference_models["grounded"]


@pytest.fixture(scope="session")
def text_only_model_dir(reference_models: dict[str, Path]) -> Path:
    return reference_models["text_only"]


@pytest.fixture(scope="session")
def grounded_reasoner_dir(reference_models: dict[str, Path]) -> Path:
    return reference_models["grounded_reasoner"]


@pytest.fixture(scope="session")
def shortcut_reasoner_dir(reference_models: dict[str, Path]) -> Path:
    return reference_models["shortcut_reasoner"]


@pytest.fixture(scope="session")
def blind_reasoner_dir(reference_models: dict[str, Path]) -> Path:
    return reference_models["blind_reasoner"]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


DEMO_API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def demo_service(
    demo_model_dir: Path, session_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    """`bentoml serve` of the random demo checkpoint with a real Redis, shared by API tests."""
    log = tmp_path_factory.mktemp("serve-demo") / "bentoml.log"
    service = start_service(
        {
            "GROUNDING_MODEL_PATH": str(demo_model_dir),
            "GROUNDING_MODEL_NAME": "demo",
            "GROUNDING_MAX_NEW_TOKENS": "8",
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_API_KEYS": DEMO_API_KEY,
            "GROUNDING_MAX_IMAGE_BYTES": "300000",
            "GROUNDING_MAX_IMAGE_PIXELS": "1000000",
            "GROUNDING_REDIS_URL": session_redis.url,
        },
        log,
    )
    yield service
    service.stop()
