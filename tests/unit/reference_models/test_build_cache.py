"""A cache folder is built once by concurrent builders, and a failed build leaves nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reference_models.build_cache import build_once


def test_concurrent_builders_build_once_and_failures_leave_nothing(tmp_path: Path) -> None:
    calls: list[int] = []
    barrier = threading.Barrier(4)

    def build(folder: Path) -> None:
        calls.append(1)
        (folder / "done").write_text("ok")

    def racer() -> None:
        barrier.wait()
        build_once(tmp_path / "thing", build, ready=lambda f: (f / "done").is_file())

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert (tmp_path / "thing" / "done").read_text() == "ok"

    def broken(folder: Path) -> None:
        (folder / "partial").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_once(tmp_path / "broken", broken, ready=lambda f: (f / "done").is_file())
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []
