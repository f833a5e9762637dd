"""The offline runner's planning, batching, resuming and extras, on a fake model backend."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest

from audits.contracts.backend import BackendBase, VLMInput
from audits.contracts.types import ALL_CONDITIONS, Condition, ConditionOutcome
from audits.data.manifest import ManifestItem, read_manifest, write_manifest
from audits.data.phantom import make_phantom
from audits.offline.planning import RESULTS_NAME, file_sha256, shuffled_partners
from audits.offline.run_records import NO_PARTNER, AuditJob, ItemRecord, RunMismatchError
from audits.offline.runner import run_audit
from audits.science.conditions import registered_names
from tests.support.images import noise_image


def _bit(item: VLMInput) -> int:
    if item.image is None:
        return 0
    return hashlib.sha256(item.image.tobytes() + item.question.encode()).digest()[0] % 2


class FakeBackend(BackendBase):
    """Answers from a hash of image and question; records every call."""

    model_name = "fake"

    def __init__(self) -> None:
        self.generate_calls: list[list[VLMInput]] = []
        self.score_calls: list[tuple[list[VLMInput], list[str]]] = []
        self.sample_seeds: list[int | None] = []

    def answer(self, item: VLMInput) -> str:
        if "Options:" in item.question:
            return f"Answer: {'AB'[_bit(item)]}"
        return f"<think>the image shows a lesion</think>Answer: {('no', 'yes')[_bit(item)]}"

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        self.generate_calls.append(list(items))
        if temperature > 0:
            self.sample_seeds.append(seed)
            return [f"Answer: {'AB'[(seed or 0) + n & 1]}" for n in range(len(items))]
        return [
            " then </think><answer>B</answer>" if item.prefill else self.answer(item)
            for item in items
        ]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        self.score_calls.append((list(items), list(answers)))
        pairs = zip(items, answers, strict=True)
        return [-1.0 - _bit(item) - 0.25 * len(answer) for item, answer in pairs]


class FailingBackend(FakeBackend):
    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    def generate(self, items: Sequence[VLMInput], **kwargs: object) -> list[str]:
        if len(self.generate_calls) >= self.fail_after:
            raise RuntimeError("injected failure")
        return super().generate(items, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom(tmp_path_factory.mktemp("phantom"), 6, 3)


def _run(manifest: Path, out: Path, backend: object | None = None, **kwargs: object):
    return run_audit(manifest, backend or FakeBackend(), out, progress=False, n_boot=50, **kwargs)  # type: ignore[arg-type]


def _records(out: Path) -> list[ItemRecord]:
    lines = (out / RESULTS_NAME).read_text().splitlines()
    return [ItemRecord.model_validate(json.loads(line)) for line in lines]


def test_every_item_gets_every_condition_with_a_partner_of_another_image(
    phantom: Path, tmp_path: Path
) -> None:
    items = read_manifest(phantom)
    backend = FakeBackend()
    result = _run(phantom, tmp_path, backend, conditions=registered_names())
    records = _records(tmp_path)
    assert [r.id for r in records] == [item.id for item in items]
    by_id = {item.id: item for item in items}
    for record, item in zip(records, items, strict=True):
        assert list(record.outcomes) == list(ALL_CONDITIONS)
        assert all(o.output and o.logp is not None for o in record.outcomes.values())
        partner = by_id[record.shuffled_partner or ""]
        assert file_sha256(partner.image) != file_sha256(item.image)
        # the shuffled output is what the model says about the partner's image
        from PIL import Image

        with Image.open(partner.image) as image:
            expected = backend.answer(VLMInput(item.question, image.convert("RGB")))
        assert record.outcomes[Condition.SHUFFLED].output == expected
    assert result.metrics.overall.n_items == len(items)
    assert {"json", "md", "html", "items", "results"} <= set(result.paths)
    report = json.loads(result.paths["json"].read_text())
    assert report["metrics"]["overall"]["n_items"] == len(items)
    assert "text_stress" not in report


def _manifest(folder: Path, rows: Iterable[tuple[str, str]], **extra: object) -> Path:
    items = [
        ManifestItem(id=f"q{i}", image=str(folder / image), question=question, answer="yes")
        for i, (image, question) in enumerate(rows)
    ]
    items = [item.model_copy(update=extra) for item in items]
    return write_manifest(folder / "manifest.jsonl", items)


def test_identical_image_files_are_never_partners(tmp_path: Path) -> None:
    noise_image(1).save(tmp_path / "a.png")
    shutil.copy(tmp_path / "a.png", tmp_path / "a-copy.png")
    noise_image(2).save(tmp_path / "c.png")
    rows = [(name, "Is there a lesion?") for name in ("a.png", "a-copy.png", "c.png") * 2]
    items = read_manifest(_manifest(tmp_path, rows))
    for seed in range(25):
        partners = shuffled_partners(items, seed)
        for index, partner in enumerate(partners):
            assert partner is not None
            own_is_c = items[index].image.endswith("c.png")
            assert items[partner].image.endswith("c.png") != own_is_c


def test_a_single_image_skips_shuffled_and_still_reports(tmp_path: Path) -> None:
    noise_image(1).save(tmp_path / "a.png")
    manifest = _manifest(tmp_path, [("a.png", "Is there a lesion?"), ("a.png", "Left or right?")])
    result = _run(manifest, tmp_path / "out")
    for record in _records(tmp_path / "out"):
        shuffled = record.outcomes[Condition.SHUFFLED]
        assert shuffled.skipped and shuffled.skip_reason == NO_PARTNER
        assert record.shuffled_partner is None
    assert result.metrics.overall.conditions[Condition.SHUFFLED].skipped == 2
    assert result.metrics.overall.image_sensitivity is None


def test_generate_calls_are_batched_per_group_and_scores_per_item(
    phantom: Path, tmp_path: Path
) -> None:
    n = len(read_manifest(phantom))
    grouped, single = FakeBackend(), FakeBackend()
    _run(phantom, tmp_path / "grouped", grouped, batch_items=4)
    _run(phantom, tmp_path / "single", single, batch_items=1)
    sizes = [len(call) for call in grouped.generate_calls]
    assert sizes == [16] * (n // 4) + ([4 * (n % 4)] if n % 4 else [])
    assert [len(call) for call in single.generate_calls] == [4] * n
    assert len(grouped.score_calls) == len(single.score_calls) == n
    strip = [r.model_dump(exclude={"timings_ms"}) for r in _records(tmp_path / "grouped")]
    assert strip == [r.model_dump(exclude={"timings_ms"}) for r in _records(tmp_path / "single")]


def test_score_mode_generates_only_the_real_condition(phantom: Path, tmp_path: Path) -> None:
    n = len(read_manifest(phantom))
    backend = FakeBackend()
    _run(phantom, tmp_path, backend, mode="score", batch_items=2)
    assert [len(call) for call in backend.generate_calls] == [2] * (n // 2) + [1] * (n % 2)
    for record in _records(tmp_path):
        assert record.outcomes[Condition.REAL].output
        assert record.outcomes[Condition.BLANK].output is None
        assert record.outcomes[Condition.BLANK].logp is not None


def test_an_interrupted_run_resumes_to_the_same_report(phantom: Path, tmp_path: Path) -> None:
    n = len(read_manifest(phantom))
    full = _run(phantom, tmp_path / "full")
    with pytest.raises(RuntimeError, match="injected"):
        _run(phantom, tmp_path / "cut", FailingBackend(fail_after=2), batch_items=4)
    assert len(_records(tmp_path / "cut")) == 8
    with (tmp_path / "cut" / RESULTS_NAME).open("a") as fh:
        fh.write('{"index": 8, "id": "half-writ')  # a write cut short by the crash
    resumed = _run(phantom, tmp_path / "cut")
    assert (resumed.ran, resumed.resumed) == (n - 8, 8)
    for name in ("report.json", "report.md", "report.html", "items.jsonl"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
    assert len(_records(tmp_path / "cut")) == n
    assert resumed.metrics == full.metrics


def test_a_limited_run_then_a_full_one_recomputes_the_incomplete_group(
    phantom: Path, tmp_path: Path
) -> None:
    n = len(read_manifest(phantom))
    _run(phantom, tmp_path / "full")
    first = _run(phantom, tmp_path / "cut", limit=5, batch_items=4)
    assert first.metrics.overall.n_items == 5
    second = _run(phantom, tmp_path / "cut", batch_items=4)
    assert (second.ran, second.resumed) == (n - 4, 4)
    indices = [r.index for r in _records(tmp_path / "cut")]
    assert indices.count(4) == 2  # first alone, then again with its whole group
    full_report = (tmp_path / "full" / "report.json").read_bytes()
    assert (tmp_path / "cut" / "report.json").read_bytes() == full_report
    again = _run(phantom, tmp_path / "cut")
    assert (again.ran, again.resumed) == (0, n)


class InfiniteBackend(FakeBackend):
    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        values = super().score(items, answers)
        pairs = zip(items, values, strict=True)
        return [-math.inf if item.image is None else value for item, value in pairs]


def test_infinite_log_probabilities_survive_a_resume(phantom: Path, tmp_path: Path) -> None:
    _run(phantom, tmp_path / "full", InfiniteBackend())
    _run(phantom, tmp_path / "cut", InfiniteBackend(), limit=3)
    _run(phantom, tmp_path / "cut", InfiniteBackend())
    records = _records(tmp_path / "cut")
    assert all(r.outcomes[Condition.NO_IMAGE].logp == -math.inf for r in records)
    full_report = (tmp_path / "full" / "report.json").read_bytes()
    assert (tmp_path / "cut" / "report.json").read_bytes() == full_report


def test_resuming_with_other_settings_is_refused(phantom: Path, tmp_path: Path) -> None:
    _run(phantom, tmp_path, limit=3)
    before = (tmp_path / RESULTS_NAME).read_bytes()
    with pytest.raises(RunMismatchError, match="seed"):
        _run(phantom, tmp_path, seed=1)
    with pytest.raises(RunMismatchError, match="conditions"):
        _run(phantom, tmp_path, conditions=["blank"])
    assert (tmp_path / RESULTS_NAME).read_bytes() == before


def _option_manifest(folder: Path) -> Path:
    for seed in range(3):
        noise_image(seed).save(folder / f"i{seed}.png")
    items = [
        ManifestItem(
            id=f"mc{i}",
            image=str(folder / f"i{i % 3}.png"),
            question="What does the image show?",
            answer=("effusion", "B", "pneumothorax")[i % 3],
            options={"A": "effusion", "B": "nodule", "C": "pneumothorax"},
            benchmark="mc",
        )
        for i in range(5)
    ]
    items.append(
        ManifestItem(id="open", image=str(folder / "i0.png"), question="Lesion?", answer="yes")
    )
    return write_manifest(folder / "manifest.jsonl", items)


def test_text_stress_and_pass_at_k(tmp_path: Path) -> None:
    manifest = _option_manifest(tmp_path)
    backend = FakeBackend()
    result = _run(manifest, tmp_path / "a", backend, stress=True, pass_k=3, temperature=0.5)
    records = {r.id: r for r in _records(tmp_path / "a")}
    assert records["open"].stress is None
    stress = records["mc0"].stress
    assert stress is not None
    assert (stress.correct_letter, stress.wrong_letter) == ("A", "B")
    assert records["mc2"].stress is not None and records["mc2"].stress.wrong_letter == "A"
    assert sorted(stress.letter_logps) == ["A", "B", "C"]
    assert stress.wrong_think_output.startswith("<think>\nLooking at the image")
    assert stress.wrong_think_output.endswith("<answer>B</answer>")
    prompts = [item.question for call in backend.generate_calls for item in call]
    assert any(p.startswith("Image caption:") and "(B) nodule" in p for p in prompts)
    assert any("Options:\nA. effusion\nB. nodule" in p for p in prompts)
    assert all(len(r.samples or []) == 3 for r in records.values())
    assert len(set(backend.sample_seeds)) == len(records)
    # the fake always continues a wrong think block to B: right for mc1 and mc4 only
    overall = result.text_stress["Overall"] if result.text_stress else None
    assert overall is not None and overall.n_items == 5
    assert overall.accuracy.acc_wrong_think is not None
    assert (overall.accuracy.acc_wrong_think.k, overall.accuracy.acc_wrong_think.n) == (2, 5)
    base_right = sum(
        r.outcomes[Condition.REAL].output == f"Answer: {r.stress.correct_letter}"
        for r in records.values()
        if r.stress is not None
    )
    assert overall.accuracy.acc_base is not None and overall.accuracy.acc_base.k == base_right
    report = json.loads(result.paths["json"].read_text())
    assert set(report["text_stress"]) == {"Overall", "default", "mc"}
    assert report["sampling"]["Overall"]["k"] == 3
    assert report["sampling"]["Overall"]["n_items"] == 6
    assert "## Text stress tests" in result.paths["md"].read_text()
    assert "Acc@1 and Pass@K" in result.paths["html"].read_text()
    again = _run(manifest, tmp_path / "b", FakeBackend(), stress=True, pass_k=3, temperature=0.5)
    assert again.paths["json"].read_bytes() == result.paths["json"].read_bytes()


class FakeClient:
    model_name = "client"
    group_size = 1

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]:
        for job in jobs:
            outcomes = {
                c: ConditionOutcome(condition=c, output="Answer: yes")
                for c in (Condition.REAL, *job.conditions)
            }
            yield ItemRecord(index=job.index, id=job.item.id, outcomes=outcomes)


def test_an_auditor_client_is_used_as_is_and_refuses_local_extras(
    phantom: Path, tmp_path: Path
) -> None:
    result = _run(phantom, tmp_path / "ok", FakeClient())
    assert result.metrics.overall.image_sensitivity is not None
    assert result.metrics.overall.image_sensitivity.value == 0.0
    with pytest.raises(ValueError, match="local model"):
        _run(phantom, tmp_path / "no", FakeClient(), stress=True)


def test_a_manifest_of_dicom_files_is_audited_and_never_pairs_identical_pixels(
    tmp_path: Path,
) -> None:
    """`.dcm` paths render the DICOM way; the same pixels under another patient's header count
    as the same image for the derangement."""
    from tests.support.dicom import shipped_bytes, with_patient

    images = {
        "ct.dcm": shipped_bytes("CT_small.dcm"),
        "ct_other_header.dcm": with_patient(shipped_bytes("CT_small.dcm")),
        "mr.dcm": shipped_bytes("MR_small.dcm"),
        "us.dcm": shipped_bytes("examples_rgb_color.dcm"),
    }
    for name, data in images.items():
        (tmp_path / name).write_bytes(data)
    modalities = ["CT", "CT", "MR", None]
    items = [
        ManifestItem(
            id=f"q{i}", image=name, question="Is there a lesion?", answer="yes", modality=m
        )
        for i, (name, m) in enumerate(zip(images, modalities, strict=True))
    ]
    manifest = write_manifest(tmp_path / "manifest.jsonl", items)
    read = read_manifest(manifest)
    for seed in range(10):
        partners = shuffled_partners(read, seed)
        pairs = {(read[i].image, read[p].image) for i, p in enumerate(partners) if p is not None}
        ct_pair = {str(tmp_path / "ct.dcm"), str(tmp_path / "ct_other_header.dcm")}
        assert not any(set(pair) == ct_pair for pair in pairs)
    result = _run(manifest, tmp_path / "out")
    records = _records(tmp_path / "out")
    assert len(records) == 4
    assert all(r.outcomes[Condition.REAL].output for r in records)
    report = json.loads(result.paths["json"].read_text())
    by_modality = report["by_modality"]
    assert {name: m["n_items"] for name, m in by_modality.items()} == {
        "CT": 2,
        "MR": 1,
        "unknown": 1,
    }
    assert "By modality" in result.paths["md"].read_text()


def test_oracle_is_compares_the_same_question_on_the_partner_image(tmp_path: Path) -> None:
    """The oracle flip asks: would the correct answer to *this* question differ for the
    partner's image? Not: does the partner row (often another question) have another answer."""
    rows = []
    for seed, (name, modality) in enumerate((("a", "xray"), ("b", "ct"))):
        image = tmp_path / f"{name}.png"
        noise_image(seed).save(image)
        rows.append(ManifestItem(id=f"{name}-lesion", image=str(image), question="Lesion?",
                                 answer="yes"))  # fmt: skip
        rows.append(ManifestItem(id=f"{name}-modality", image=str(image), question="Modality?",
                                 answer=modality))  # fmt: skip
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    overall = _run(manifest, tmp_path / "out").metrics.overall
    # both images have a lesion (the lesion question should not change), the modality differs
    assert overall.oracle_is is not None
    assert (overall.oracle_is.k, overall.oracle_is.n) == (2, 4)


def test_flags_are_computed_once_per_item_from_the_stored_outcomes(
    phantom: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local auditor stores outcomes only; the report computes the flags (once)."""
    import audits.science.audit_steps as audit_steps
    import audits.science.flags as flags

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("flags computed while auditing, then dropped")

    monkeypatch.setattr(audit_steps, "compute_flags", not_here)
    calls: list[int] = []
    compute = flags.compute_flags

    def counted(*args: object, **kwargs: object):
        calls.append(1)
        return compute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(flags, "compute_flags", counted)
    result = _run(phantom, tmp_path)
    assert len(calls) == result.metrics.overall.n_items
