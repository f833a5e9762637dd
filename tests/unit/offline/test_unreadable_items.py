"""Items whose image cannot be read: found before anything runs; stop (default) or skip and
count them. And the `run` command checks its manifest before it loads a model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audits.data.manifest import read_manifest, write_manifest
from audits.data.phantom import make_phantom
from audits.offline.runner import UnreadableItemsError, run_audit
from cli.main import main
from tests.unit.offline.test_runner import FakeBackend


@pytest.fixture
def broken_manifest(tmp_path: Path) -> tuple[Path, set[str]]:
    """A phantom manifest whose second image is missing and whose third is not an image."""
    manifest = make_phantom(tmp_path / "phantom", 6, 3)
    items = read_manifest(manifest)
    images = sorted({item.image for item in items})
    Path(images[1]).unlink()
    Path(images[2]).write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    bad = {item.id for item in items if item.image in images[1:3]}
    copy = tmp_path / "copy"
    shutil.copytree(manifest.parent, copy)
    return write_manifest(copy / "manifest.jsonl", items), bad


def test_unreadable_images_stop_the_run_before_the_model_is_called(
    broken_manifest: tuple[Path, set[str]], tmp_path: Path
) -> None:
    manifest, bad = broken_manifest
    backend = FakeBackend()
    with pytest.raises(UnreadableItemsError) as caught:
        run_audit(manifest, backend, tmp_path / "out", progress=False, n_boot=20)
    assert set(caught.value.problems) == bad
    assert "--on-error skip" in str(caught.value)
    assert backend.generate_calls == []


def test_skip_audits_the_rest_and_counts_what_it_left_out(
    broken_manifest: tuple[Path, set[str]], tmp_path: Path
) -> None:
    manifest, bad = broken_manifest
    backend = FakeBackend()
    out = tmp_path / "out"
    result = run_audit(manifest, backend, out, progress=False, n_boot=20, on_error="skip")
    assert set(result.skipped_items) == bad
    audited = {item.id for item in result.items}
    assert audited and not audited & bad
    bad_images = {item.image for item in read_manifest(manifest) if item.id in bad}
    # a skipped image is never another item's shuffled image either
    shown = {
        call_item.image.tobytes()
        for call in backend.generate_calls
        for call_item in call
        if call_item.image
    }
    assert shown  # the run did call the model
    report = json.loads((out / "report.json").read_text())
    assert report["skipped_items"]["count"] == len(bad)
    assert set(report["skipped_items"]["items"]) == bad
    assert "Skipped items" in (out / "report.md").read_text()
    assert all(Path(image).name not in (out / "results.jsonl").read_text() for image in bad_images)


def test_run_command_checks_the_manifest_before_loading_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "--manifest",
            str(tmp_path / "missing.jsonl"),
            "--model",
            str(tmp_path / "no-such-checkpoint"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "missing.jsonl" in err
    assert "resumes" not in err  # nothing ran, so there is nothing to resume
    assert "checkpoint" not in err  # the model was never looked at


def test_run_command_names_what_model_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = make_phantom(tmp_path / "phantom", 2, 3)
    code = main(
        ["run", "--manifest", str(manifest), "--model", "groundedreasoner", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "grounded_reasoner" in err and "reference model" in err
