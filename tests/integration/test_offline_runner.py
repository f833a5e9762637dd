"""`grounding-audit run` end to end on real checkpoints: the random demo model and the grounded
reference model (known answers on the phantom held-out split)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from audits.backends.transformers_runtime import TransformersRuntime
from audits.contracts.backend import BackendBase, VLMInput
from audits.contracts.types import Condition
from audits.data.manifest import ManifestItem, read_manifest, write_manifest
from audits.data.phantom import make_phantom
from audits.offline.planning import RESULTS_NAME, file_sha256
from audits.offline.run_records import ItemRecord
from audits.offline.runner import AuditRunResult, run_audit
from audits.science.conditions import default_conditions
from cli.main import main

pytestmark = pytest.mark.slow

REPORT_FILES = ("report.json", "report.md", "report.html", "items.jsonl")
ONE_BY_ONE_ITEMS = 8


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom(tmp_path_factory.mktemp("phantom"), 8, 0)


@pytest.fixture(scope="module")
def runtime(grounded_model_dir: Path) -> TransformersRuntime:
    """The shipped one-word reference model: its answers are the phantom's admissible ones, so
    flips are known (a random model's text is none of them: every answer <unparsed>)."""
    return TransformersRuntime(grounded_model_dir, device="cpu", dtype="float32", max_new_tokens=6)


def _run(manifest: Path, backend: object, out: Path, **kwargs: object) -> AuditRunResult:
    return run_audit(manifest, backend, out, progress=False, n_boot=200, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def full_run(
    manifest: Path, runtime: TransformersRuntime, tmp_path_factory: pytest.TempPathFactory
) -> AuditRunResult:
    return _run(manifest, runtime, tmp_path_factory.mktemp("full"), batch_items=4)


def _records(out: Path) -> list[ItemRecord]:
    return [
        ItemRecord.model_validate(json.loads(line))
        for line in (out / RESULTS_NAME).read_text().splitlines()
    ]


def _without_timings(records: Sequence[ItemRecord]) -> list[dict[str, object]]:
    return [r.model_dump(exclude={"timings_ms"}) for r in records]


def test_every_item_has_every_condition_and_a_partner_with_another_image(
    manifest: Path, full_run: AuditRunResult
) -> None:
    items = read_manifest(manifest)
    out = full_run.paths["json"].parent
    records = _records(out)
    assert [r.id for r in records] == [item.id for item in items]
    by_id = {item.id: item for item in items}
    for record, item in zip(records, items, strict=True):
        assert list(record.outcomes) == [Condition.REAL, *default_conditions()]
        for outcome in record.outcomes.values():
            assert not outcome.skipped and outcome.output is not None
            assert outcome.logp is not None and outcome.logp < 0
        partner = by_id[record.shuffled_partner or ""]
        assert partner.id != item.id
        assert file_sha256(partner.image) != file_sha256(item.image)
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "report.json").read_text())
    overall = report["metrics"]["overall"]
    assert overall["n_items"] == len(items)
    assert overall["conditions"]["shuffled"]["run"] == len(items)
    assert full_run.metrics.overall.image_sensitivity is not None
    assert full_run.metrics.overall.image_sensitivity.n > 0
    assert "<svg" in (out / "report.html").read_text()


def test_batched_items_give_the_same_results_as_one_by_one(
    manifest: Path, runtime: TransformersRuntime, full_run: AuditRunResult, tmp_path: Path
) -> None:
    _run(manifest, runtime, tmp_path, batch_items=1, limit=ONE_BY_ONE_ITEMS)
    full_out = full_run.paths["json"].parent
    one_by_one = _without_timings(_records(tmp_path))
    assert one_by_one == _without_timings(_records(full_out))[:ONE_BY_ONE_ITEMS]


class Interrupted(Exception):
    pass


class InterruptingBackend(BackendBase):
    """The real runtime, until the n-th generate call: then the process 'dies'."""

    def __init__(self, runtime: TransformersRuntime, calls: int) -> None:
        self.runtime = runtime
        self.model_name = runtime.model_name
        self.calls_left = calls

    def generate(self, items: Sequence[VLMInput], **kwargs: object) -> list[str]:
        if self.calls_left == 0:
            raise Interrupted
        self.calls_left -= 1
        return self.runtime.generate(items, **kwargs)  # type: ignore[arg-type]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return self.runtime.score(items, answers)


def test_an_interrupted_run_resumes_to_an_identical_report(
    manifest: Path, runtime: TransformersRuntime, full_run: AuditRunResult, tmp_path: Path
) -> None:
    n = full_run.metrics.overall.n_items
    with pytest.raises(Interrupted):
        _run(manifest, InterruptingBackend(runtime, calls=2), tmp_path, batch_items=4)
    assert len(_records(tmp_path)) == 8
    assert not (tmp_path / "report.json").exists()
    resumed = _run(manifest, runtime, tmp_path, batch_items=4)
    assert (resumed.ran, resumed.resumed) == (n - 8, 8)
    full_out = full_run.paths["json"].parent
    for name in REPORT_FILES:
        assert (tmp_path / name).read_bytes() == (full_out / name).read_bytes(), name


def test_stress_tests_and_pass_at_k_on_a_real_model(
    manifest: Path, runtime: TransformersRuntime, tmp_path: Path
) -> None:
    items = read_manifest(manifest)[:4]
    options = {"A": "xray", "B": "ct", "C": "ultrasound"}
    mc = [
        ManifestItem(
            id=f"mc-{item.id}",
            image=item.image,
            question="What modality is this?",
            answer=item.modality or "xray",
            options=options,
            benchmark="phantom-mc",
        )
        for item in items
    ]
    mc_manifest = write_manifest(tmp_path / "mc.jsonl", mc)
    first = _run(mc_manifest, runtime, tmp_path / "a", stress=True, pass_k=2, temperature=1.0)
    for record in _records(tmp_path / "a"):
        assert record.stress is not None and len(record.samples or []) == 2
        assert record.stress.wrong_think_output.startswith("<think>")
        assert set(record.stress.letter_logps) == set(options)
        assert all(v < 0 for v in record.stress.letter_logps.values())
    assert first.text_stress is not None and first.text_stress["Overall"].n_items == 4
    letters = first.text_stress["Overall"].letters
    assert letters is not None and 0 < letters.mean_p_base < 1
    assert first.sampling is not None and first.sampling["Overall"].k == 2
    second = _run(mc_manifest, runtime, tmp_path / "b", stress=True, pass_k=2, temperature=1.0)
    assert first.paths["json"].read_bytes() == second.paths["json"].read_bytes()


def test_the_cli_runs_and_resumes(
    manifest: Path, demo_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "run",
        "--manifest",
        str(manifest),
        "--model",
        str(demo_model_dir),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--max-new-tokens",
        "4",
        "--limit",
        "5",
        "--no-progress",
        "--n-boot",
        "100",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| Overall | 5 |" in printed and "audited 5 items, 0 taken" in printed
    assert main(argv) == 0
    assert "audited 0 items, 5 taken" in capsys.readouterr().out
    assert main([*argv, "--seed", "3"]) == 2
    assert "other settings" in capsys.readouterr().err


KNOWN_ANSWER_ITEMS = 150


def test_the_grounded_model_is_accurate_and_image_sensitive(
    grounded_model_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    from reference_models.phantom_data import ensure_phantom_data

    heldout = ensure_phantom_data(cache_dir).heldout
    runtime = TransformersRuntime(grounded_model_dir, device="cpu", max_new_tokens=4)
    result = _run(heldout, runtime, tmp_path, limit=KNOWN_ANSWER_ITEMS, batch_items=16)
    overall = result.metrics.overall
    assert overall.n_items == KNOWN_ANSWER_ITEMS
    accuracy = overall.accuracy[Condition.REAL]
    sensitivity = overall.image_sensitivity
    assert accuracy is not None and accuracy.value >= 0.90, accuracy
    assert sensitivity is not None and sensitivity.value >= 0.30, sensitivity
    vrs = overall.vrs
    assert vrs is not None and vrs.value > 0, vrs
