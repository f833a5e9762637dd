"""Each service instance has its own Prometheus multiprocess folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.telemetry.multiproc import ENV, instance_dir, prepare_instance_dir, use_instance_dir


def test_the_instance_folder_sits_beside_the_one_bentoml_empties(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus_multiproc_dir"
    assert instance_dir(shared, 42) == tmp_path / "prometheus_multiproc_dir.instances" / "42"


def test_the_serve_process_gets_an_empty_folder_of_its_own(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus_multiproc_dir"
    own = prepare_instance_dir(shared)
    (own / "stale.db").write_text("x")
    assert prepare_instance_dir(shared) == own and not any(own.iterdir())


def test_outside_a_bentoml_worker_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    assert use_instance_dir() is None
    monkeypatch.delenv(ENV)
    assert use_instance_dir() is None
