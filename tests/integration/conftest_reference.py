"""Session fixtures that build the reference models once (wired into conftest.py by the lead).

The cache is ``$GROUNDING_CACHE_DIR`` when set, so later tests and the service reuse the
models; otherwise a temporary folder of the test session. ``GROUNDING_TRAIN_STEPS`` sets the
training budget.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = [
    "grounded_model_dir",
    "phantom_data",
    "reference_cache_dir",
    "text_only_model_dir",
]


@pytest.fixture(scope="session")
def reference_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("GROUNDING_CACHE_DIR", "").strip()
    if configured:
        return Path(configured)
    return tmp_path_factory.mktemp("grounding-cache")


@pytest.fixture(scope="session")
def phantom_data(reference_cache_dir: Path):  # -> service.prepare.PhantomData
    from service.prepare import ensure_phantom_data

    return ensure_phantom_data(reference_cache_dir)


@pytest.fixture(scope="session")
def grounded_model_dir(reference_cache_dir: Path) -> Path:
    from service.prepare import ensure_reference_model

    return ensure_reference_model("grounded", reference_cache_dir)


@pytest.fixture(scope="session")
def text_only_model_dir(reference_cache_dir: Path) -> Path:
    from service.prepare import ensure_reference_model

    return ensure_reference_model("text_only", reference_cache_dir)
