"""The offline runner: every item of a manifest under real, shuffled, blank and no_image.

``run_audit`` turns a manifest into ``<out>/results.jsonl`` (one line per item: every
condition's outcome, fsynced as it is written) and the reports of ``audits.reports.report``. The
per-item work is ``audits.science.item_audit.ItemAuditRun``, the very code the online service runs;
flags and metrics are recomputed from the stored outcomes, so a report only depends on them.

- Shuffled: a seeded derangement over the manifest's rows keyed by the image file's SHA-256, so
  an item is never paired with its own image nor an identical one.
- Resumable: lines already in ``results.jsonl`` are kept and their items skipped; a half-written
  last line is cut off. ``run.json`` records the settings; resuming with other ones is refused.
- Batching (local model): the generate calls of ``batch_items`` consecutive items go to the
  model as one batch; groups are fixed by manifest position and a group is always recomputed as
  a whole, so a resumed run batches exactly like an uninterrupted one. Score calls stay per item.
- Optional extras for a local model: text stress tests for option questions (Wrong-Caption,
  Wrong-Think, P_base, letter entropy, faithfulness) and Acc@1 / Pass@K from K sampled outputs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from itertools import groupby
from pathlib import Path
from typing import Protocol, runtime_checkable

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from audits.contracts.backend import VLMBackend, VLMInput
from audits.contracts.types import COUNTERFACTUALS, Condition, ConditionOutcome, ItemAudit
from audits.data.manifest import ManifestItem, read_manifest
from audits.reports.report import fmt_diff, fmt_rate, write_reports
from audits.science.counterfactuals import seeded_derangement
from audits.science.flags import audit_item
from audits.science.item_audit import AuditMode, ItemAuditRun, ItemAuditSpec
from audits.science.metrics import OVERALL, AuditMetrics, Rate, compute_metrics
from audits.science.parsing import normalize_answer
from audits.science.textstress import (
    LetterSummary,
    SampledAccuracy,
    StressResult,
    faithfulness_rate,
    is_correct,
    letter_summary,
    option_question_prompt,
    sampled_accuracy,
    stress_deltas,
    wrong_caption_prompt,
    wrong_letter_for,
    wrong_think_prefill,
)

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
SETTINGS_NAME = "run.json"
DEFAULT_BATCH_ITEMS = 4
NO_PARTNER = "no other image in the manifest"


class RunMismatchError(ValueError):
    """The output folder holds results of a run with other settings."""


# --- records --------------------------------------------------------------------------------


class RunSettings(BaseModel):
    """Everything that changes the stored outcomes; a resumed run must match it."""

    model_config = ConfigDict(frozen=True)

    manifest_sha256: str
    seed: int
    mode: AuditMode
    conditions: list[Condition]
    options_in_prompt: bool
    stress: bool
    pass_k: int
    temperature: float | None
    """Sampling temperature of Pass@K (None when pass_k is 0)."""


class StressRecord(BaseModel):
    """Raw outputs of the text stress tests of one option question (real image throughout)."""

    correct_letter: str
    wrong_letter: str
    wrong_caption_output: str
    wrong_think_output: str
    """The pre-filled reasoning followed by the model's continuation."""
    letter_logps: dict[str, float]
    """Log-probability of each option letter as the answer to the base prompt."""


class ItemRecord(BaseModel):
    """One line of ``results.jsonl``."""

    index: int
    """Position in the manifest."""
    id: str
    shuffled_partner: str | None = None
    """Id of the item whose image was the shuffled image."""
    outcomes: dict[Condition, ConditionOutcome]
    stress: StressRecord | None = None
    samples: list[str] | None = None
    """Pass@K: outputs sampled at the run's temperature for the real condition."""
    timings_ms: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class AuditJob:
    """One manifest item to audit, with its partner for the shuffled condition."""

    index: int
    item: ManifestItem
    question: str
    """The prompt text the model sees (option questions list their options)."""
    conditions: tuple[Condition, ...]
    mode: AuditMode
    shuffled_image: str | None
    """Path of the partner's image; None when the shuffled condition has no partner."""
    shuffled_partner: str | None
    shuffled_skip_reason: str = NO_PARTNER


@runtime_checkable
class Auditor(Protocol):
    """Runs audit jobs somewhere (a local model, a deployed service) and yields their records.

    Records come back in the order of the jobs. ``group_size`` > 1 means items are batched
    together in groups of that many consecutive manifest positions.
    """

    model_name: str
    group_size: int

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]: ...


@dataclass
class AuditRunResult:
    metrics: AuditMetrics
    items: list[ItemAudit]
    """Audited items in manifest order."""
    paths: dict[str, Path]
    ran: int
    """Items audited by this call (including recomputed members of incomplete groups)."""
    resumed: int
    """Items whose results were taken from an earlier run."""
    text_stress: dict[str, StressSummary] | None = None
    sampling: dict[str, SampledAccuracy] | None = None


# --- the local model ------------------------------------------------------------------------


class _PrefetchedBackend:
    """Serves greedy generate calls from outputs computed beforehand in one batch.

    Anything not prefetched (and every score call) goes to the wrapped backend, so results
    never depend on the prefetch list being complete, only the batching does.
    """

    def __init__(self, backend: VLMBackend, inputs: Sequence[VLMInput]) -> None:
        self.model_name = backend.model_name
        self._backend = backend
        texts = backend.generate(inputs) if inputs else []
        self._table = {id(item): text for item, text in zip(inputs, texts, strict=True)}
        self._keep = list(inputs)  # ids stay valid while the table lives

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        greedy = max_new_tokens is None and temperature == 0.0
        if greedy and all(id(item) in self._table for item in items):
            return [self._table[id(item)] for item in items]
        return self._backend.generate(
            items, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
        )

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return self._backend.score(items, answers)

    def prefetched(self, item: VLMInput) -> str:
        return self._table[id(item)]


def _pending_generation(run: ItemAuditRun) -> list[VLMInput]:
    """The inputs ``run``'s generate step will ask for (mirrors ``ItemAuditRun._generate``)."""
    return [
        item
        for condition, item in run.inputs.items()
        if condition not in run.outputs
        and (run.spec.mode != "score" or condition is Condition.REAL)
    ]


@dataclass(frozen=True)
class _StressInputs:
    letters: tuple[str, ...]
    correct_letter: str
    wrong_letter: str
    base: VLMInput
    wrong_caption: VLMInput
    wrong_think: VLMInput
    prefill: str


def letter_options(options: Mapping[str, str] | None) -> dict[str, str] | None:
    """Options keyed by single upper-case letters (at least two of them), else None."""
    if not options:
        return None
    keyed = {k.strip().upper(): v for k, v in options.items()}
    if len(keyed) < 2 or not all(len(k) == 1 and k.isalpha() for k in keyed):
        return None
    return keyed


def _stress_inputs(job: AuditJob, image: Image.Image) -> _StressInputs | None:
    """Wrong-Caption / Wrong-Think inputs of an option question whose reference is an option."""
    options = letter_options(job.item.options)
    if options is None:
        return None
    correct = normalize_answer(job.item.answer, options)
    if correct not in options:
        return None
    wrong = wrong_letter_for(options, correct)
    prefill = wrong_think_prefill(options, wrong)
    base = option_question_prompt(job.item.question, options)
    return _StressInputs(
        letters=tuple(sorted(options)),
        correct_letter=correct,
        wrong_letter=wrong,
        base=VLMInput(base, image),
        wrong_caption=VLMInput(wrong_caption_prompt(job.item.question, options, wrong), image),
        wrong_think=VLMInput(base, image, prefill=prefill),
        prefill=prefill,
    )


def _sample_seed(seed: int, index: int) -> int:
    """Sampling seed of one item: fixed by the run's seed and the item's manifest position."""
    digest = hashlib.sha256(f"pass-at-k:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _load_image(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


class LocalAuditor:
    """Audits jobs on an in-process ``VLMBackend``, ``batch_items`` items per generate call."""

    def __init__(
        self,
        backend: VLMBackend,
        *,
        batch_items: int = DEFAULT_BATCH_ITEMS,
        stress: bool = False,
        pass_k: int = 0,
        temperature: float = 0.7,
        seed: int = 0,
        image_cache: int = 64,
    ) -> None:
        if batch_items < 1:
            raise ValueError("batch_items must be at least 1")
        if pass_k < 0:
            raise ValueError("pass_k must not be negative")
        self.backend = backend
        self.model_name = backend.model_name
        self.group_size = batch_items
        self.stress = stress
        self.pass_k = pass_k
        self.temperature = temperature
        self.seed = seed
        self._load = lru_cache(maxsize=max(image_cache, 4 * batch_items))(_load_image)

    def audit(self, jobs: Iterable[AuditJob]) -> Iterator[ItemRecord]:
        for _, group in groupby(jobs, key=lambda job: job.index // self.group_size):
            yield from self._audit_group(list(group))

    def _spec(self, job: AuditJob) -> ItemAuditSpec:
        shuffled = self._load(job.shuffled_image) if job.shuffled_image else None
        return ItemAuditSpec(
            question=job.question,
            image=self._load(job.item.image),
            conditions=job.conditions,
            mode=job.mode,
            options=job.item.options,
            shuffled_image=shuffled,
            shuffled_skip_reason=job.shuffled_skip_reason,
            reference=job.item.answer,
        )

    def _audit_group(self, jobs: Sequence[AuditJob]) -> list[ItemRecord]:
        runs = [ItemAuditRun(self._spec(job)) for job in jobs]
        stress = [
            _stress_inputs(job, run.spec.image) if self.stress else None
            for job, run in zip(jobs, runs, strict=True)
        ]
        wanted = [item for run in runs for item in _pending_generation(run)]
        wanted += [x for s in stress if s is not None for x in (s.wrong_caption, s.wrong_think)]
        backend = _PrefetchedBackend(self.backend, wanted)
        records = []
        for job, run, extra in zip(jobs, runs, stress, strict=True):
            result = run.run_all(backend)
            record = ItemRecord(
                index=job.index,
                id=job.item.id,
                shuffled_partner=job.shuffled_partner if job.shuffled_image else None,
                outcomes=result.outcomes,
                timings_ms=result.timings_ms,
            )
            if extra is not None:
                record.stress = self._stress_record(backend, extra)
            if self.pass_k > 0:
                real = run.inputs[Condition.REAL]
                record.samples = self.backend.generate(
                    [real] * self.pass_k,
                    temperature=self.temperature,
                    seed=_sample_seed(self.seed, job.index),
                )
            records.append(record)
        return records

    def _stress_record(self, backend: _PrefetchedBackend, extra: _StressInputs) -> StressRecord:
        letters = list(extra.letters)
        scores = self.backend.score([extra.base] * len(letters), letters)
        return StressRecord(
            correct_letter=extra.correct_letter,
            wrong_letter=extra.wrong_letter,
            wrong_caption_output=backend.prefetched(extra.wrong_caption),
            wrong_think_output=extra.prefill + backend.prefetched(extra.wrong_think),
            letter_logps=dict(zip(letters, scores, strict=True)),
        )


# --- planning: partners, jobs, the results file ---------------------------------------------


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_keys(items: Sequence[ManifestItem]) -> list[str]:
    """The content hash of every item's image file (each file read once)."""
    by_path: dict[str, str] = {}
    keys = []
    for item in items:
        if item.image not in by_path:
            try:
                by_path[item.image] = file_sha256(item.image)
            except OSError as exc:
                raise FileNotFoundError(f"item {item.id!r}: cannot read {item.image}") from exc
        keys.append(by_path[item.image])
    return keys


def shuffled_partners(items: Sequence[ManifestItem], seed: int) -> list[int | None]:
    """Index of each item's shuffled partner; None for all when there is no second image."""
    keys = image_keys(items)
    if len(set(keys)) < 2:
        return [None] * len(items)
    return list(seeded_derangement(keys, seed))


def presented_question(item: ManifestItem, options_in_prompt: bool) -> str:
    """The prompt of an item: option questions list their options unless told otherwise."""
    if options_in_prompt and item.options:
        return option_question_prompt(item.question, item.options)
    return item.question


def _canonical_conditions(conditions: Iterable[Condition | str]) -> tuple[Condition, ...]:
    wanted = {Condition(c) for c in conditions} - {Condition.REAL}
    return tuple(c for c in COUNTERFACTUALS if c in wanted)


class ResultsFile:
    """``results.jsonl``: appended one fsynced line per item; the last line of an id wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, ItemRecord]:
        """Records so far; a trailing half-written line (an interrupted write) is cut off."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            log.warning("dropping a half-written last line of %s", self.path)
            with self.path.open("r+b") as fh:
                fh.truncate(complete)
        records: dict[str, ItemRecord] = {}
        for lineno, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = ItemRecord.model_validate(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{self.path}:{lineno}: not a result record ({exc})") from None
            records[record.id] = record
        return records

    def append(self, record: ItemRecord) -> None:
        # json.dumps keeps -inf log-probabilities (pydantic's JSON would write null)
        line = json.dumps(record.model_dump(mode="python"))
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _check_settings(out_dir: Path, settings: RunSettings, model_name: str) -> None:
    path = out_dir / SETTINGS_NAME
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        previous = RunSettings.model_validate(stored["settings"])
        if previous != settings:
            old, new = previous.model_dump(mode="json"), settings.model_dump(mode="json")
            changed = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if old[k] != new[k])
            raise RunMismatchError(
                f"{out_dir} holds results of a run with other settings ({changed}); "
                "use another output folder or delete it to start over"
            )
        if stored.get("model") != model_name:
            log.warning("resuming a run of %r with %r", stored.get("model"), model_name)
        return
    if (out_dir / RESULTS_NAME).exists():
        log.warning("%s has results but no %s; assuming the same settings", out_dir, SETTINGS_NAME)
    document = {"model": model_name, "settings": settings.model_dump(mode="json")}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _pending_indices(
    selection: Sequence[ManifestItem], done: Mapping[str, ItemRecord], group_size: int
) -> list[int]:
    """Indices to run: every member of each batching group that has an unfinished item."""
    pending: list[int] = []
    for _, group in groupby(range(len(selection)), key=lambda i: i // group_size):
        members = list(group)
        if any(selection[i].id not in done for i in members):
            pending += members
    return pending


# --- extra summaries: text stress tests and Pass@K ------------------------------------------


class StressSummary(BaseModel):
    n_items: int
    """Option questions the stress tests ran on."""
    accuracy: StressResult
    """Base = the real condition (the same prompt); deltas = perturbed - base, paired."""
    letters: LetterSummary | None
    faithfulness: Rate | None
    """Over every item whose real output can be judged (options or yes/no, with a verdict)."""


def _by_benchmark(
    pairs: Sequence[tuple[ManifestItem, ItemRecord]],
) -> dict[str, list[tuple[ManifestItem, ItemRecord]]]:
    groups: dict[str, list[tuple[ManifestItem, ItemRecord]]] = {OVERALL: list(pairs)}
    for name in sorted({item.benchmark for item, _ in pairs}):
        groups[name] = [p for p in pairs if p[0].benchmark == name]
    return groups


def _real_output(record: ItemRecord) -> str | None:
    real = record.outcomes.get(Condition.REAL)
    return None if real is None else real.output


def stress_summary(
    pairs: Sequence[tuple[ManifestItem, ItemRecord]],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    f1_threshold: float | None = None,
) -> StressSummary:
    stressed = [(item, r, r.stress) for item, r in pairs if r.stress is not None]
    base = [
        is_correct(_real_output(r), s.correct_letter, item.options, f1_threshold=f1_threshold)
        for item, r, s in stressed
    ]
    caption = [
        is_correct(s.wrong_caption_output, s.correct_letter, item.options)
        for item, _, s in stressed
    ]
    think = [
        is_correct(s.wrong_think_output, s.correct_letter, item.options) for item, _, s in stressed
    ]
    accuracy = stress_deltas(base, caption, think, n_boot=n_boot, seed=seed)
    letters = letter_summary([(s.letter_logps, s.correct_letter) for _, _, s in stressed])
    faithful = faithfulness_rate(
        [_real_output(r) for _, r in pairs], [item.options for item, _ in pairs]
    )
    return StressSummary(
        n_items=len(stressed), accuracy=accuracy, letters=letters, faithfulness=faithful
    )


def sampling_summary(
    pairs: Sequence[tuple[ManifestItem, ItemRecord]], k: int, *, f1_threshold: float | None = None
) -> SampledAccuracy:
    scored = [(item, r) for item, r in pairs if r.samples and item.answer.strip()]

    def correct(output: str | None, item: ManifestItem) -> bool:
        return is_correct(output, item.answer, item.options, f1_threshold=f1_threshold)

    return sampled_accuracy(
        [[correct(s, item) for s in r.samples or []] for item, r in scored],
        k,
        [correct(_real_output(r), item) for item, r in scored],
    )


def _fmt_float(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


STRESS_COLUMNS = (
    "Benchmark",
    "n",
    "Acc_base",
    "Acc_wrong_caption",
    "Wrong-Caption delta",
    "Acc_wrong_think",
    "Wrong-Think delta",
    "P_base",
    "Letter entropy (nats)",
    "Faithfulness",
)
SAMPLING_COLUMNS = (
    "Benchmark",
    "n",
    "K",
    "Acc@1",
    "Pass@K",
    "Pass@K (unbiased)",
    "Mean sample acc",
)


def _stress_rows(summaries: Mapping[str, StressSummary]) -> list[list[str]]:
    rows = []
    for name, s in summaries.items():
        a = s.accuracy
        rows.append(
            [
                name,
                str(s.n_items),
                fmt_rate(a.acc_base),
                fmt_rate(a.acc_wrong_caption),
                fmt_diff(a.wrong_caption_delta),
                fmt_rate(a.acc_wrong_think),
                fmt_diff(a.wrong_think_delta),
                _fmt_float(s.letters.mean_p_base if s.letters else None),
                _fmt_float(s.letters.mean_entropy_nats if s.letters else None),
                fmt_rate(s.faithfulness),
            ]
        )
    return rows


def _sampling_rows(summaries: Mapping[str, SampledAccuracy]) -> list[list[str]]:
    return [
        [
            name,
            str(s.n_items),
            str(s.k),
            fmt_rate(s.acc_at_1),
            fmt_rate(s.pass_at_k),
            _fmt_float(s.pass_at_k_unbiased),
            _fmt_float(s.mean_sample_accuracy),
        ]
        for name, s in summaries.items()
    ]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _augment_reports(
    paths: Mapping[str, Path],
    stress: Mapping[str, StressSummary] | None,
    sampling: Mapping[str, SampledAccuracy] | None,
) -> None:
    """Add the text stress and Pass@K sections to the reports ``write_reports`` wrote."""
    sections: list[tuple[str, Sequence[str], list[list[str]]]] = []
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    if stress is not None:
        document["text_stress"] = {k: v.model_dump(mode="json") for k, v in stress.items()}
        sections.append(
            ("Text stress tests (option questions)", STRESS_COLUMNS, _stress_rows(stress))
        )
    if sampling is not None:
        document["sampling"] = {k: v.model_dump(mode="json") for k, v in sampling.items()}
        sections.append(("Acc@1 and Pass@K", SAMPLING_COLUMNS, _sampling_rows(sampling)))
    if not sections:
        return
    paths["json"].write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    markdown = paths["md"].read_text(encoding="utf-8").rstrip("\n")
    for title, header, rows in sections:
        markdown += f"\n\n## {title}\n\n{_md_table(header, rows)}"
    paths["md"].write_text(markdown + "\n", encoding="utf-8")
    html = paths["html"].read_text(encoding="utf-8")
    extra = "".join(f"<h2>{escape(t)}</h2>\n{_html_table(h, r)}\n" for t, h, r in sections)
    paths["html"].write_text(html.replace("</body>", extra + "</body>", 1), encoding="utf-8")


# --- the run --------------------------------------------------------------------------------


def item_audit(
    item: ManifestItem, record: ItemRecord, *, f1_threshold: float | None = None
) -> ItemAudit:
    """An audited item with its flags computed from the stored outcomes."""
    return audit_item(item.id, item, record.outcomes, f1_threshold=f1_threshold)


def _as_auditor(
    backend_or_client: VLMBackend | Auditor,
    *,
    batch_items: int,
    stress: bool,
    pass_k: int,
    temperature: float,
    seed: int,
) -> Auditor:
    if isinstance(backend_or_client, Auditor):
        if (stress or pass_k) and not isinstance(backend_or_client, LocalAuditor):
            raise ValueError("text stress tests and Pass@K need a local model (--model)")
        return backend_or_client
    return LocalAuditor(
        backend_or_client,
        batch_items=batch_items,
        stress=stress,
        pass_k=pass_k,
        temperature=temperature,
        seed=seed,
    )


def run_audit(
    manifest_path: str | Path,
    backend_or_client: VLMBackend | Auditor,
    out_dir: str | Path,
    *,
    seed: int = 0,
    mode: AuditMode = "both",
    conditions: Iterable[Condition | str] = COUNTERFACTUALS,
    batch_items: int = DEFAULT_BATCH_ITEMS,
    stress: bool = False,
    pass_k: int = 0,
    temperature: float = 0.7,
    limit: int | None = None,
    progress: bool = True,
    options_in_prompt: bool = True,
    f1_threshold: float | None = None,
    n_boot: int = 2000,
    title: str | None = None,
    on_record: Callable[[ItemRecord], None] | None = None,
) -> AuditRunResult:
    """Audit the first ``limit`` (default: all) items of a manifest and write the reports.

    ``backend_or_client`` is a ``VLMBackend`` (run here, ``batch_items`` items per generate
    call) or an ``Auditor`` such as ``audits.offline.http_client.HttpAuditClient``. Items already in
    ``<out_dir>/results.jsonl`` are not audited again. ``on_record`` sees each new record after
    it was written.
    """
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    if pass_k > 0 and temperature <= 0:
        raise ValueError("Pass@K needs a temperature above 0")
    wanted = _canonical_conditions(conditions)
    items = read_manifest(manifest_path)
    if not items:
        raise ValueError(f"{manifest_path} holds no items")
    auditor = _as_auditor(
        backend_or_client,
        batch_items=batch_items,
        stress=stress,
        pass_k=pass_k,
        temperature=temperature,
        seed=seed,
    )
    settings = RunSettings(
        manifest_sha256=file_sha256(manifest_path),
        seed=seed,
        mode=mode,
        conditions=list(wanted),
        options_in_prompt=options_in_prompt,
        stress=stress,
        pass_k=pass_k,
        temperature=temperature if pass_k > 0 else None,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, settings, auditor.model_name)
    partners = (
        shuffled_partners(items, seed) if Condition.SHUFFLED in wanted else [None] * len(items)
    )
    selection = items if limit is None else items[:limit]
    results = ResultsFile(out_dir / RESULTS_NAME)
    done = results.load()
    pending = _pending_indices(selection, done, auditor.group_size)

    def job(index: int) -> AuditJob:
        item, partner = items[index], partners[index]
        return AuditJob(
            index=index,
            item=item,
            question=presented_question(item, options_in_prompt),
            conditions=wanted,
            mode=mode,
            shuffled_image=None if partner is None else items[partner].image,
            shuffled_partner=None if partner is None else items[partner].id,
        )

    ran = 0
    with tqdm(
        total=len(selection),
        initial=len(selection) - len(pending),
        disable=not progress,
        unit="item",
        desc="audit",
    ) as bar:
        for record in auditor.audit(job(i) for i in pending):
            results.append(record)
            done[record.id] = record
            ran += 1
            bar.update()
            if on_record is not None:
                on_record(record)
    pairs = [(item, done[item.id]) for item in selection]
    audited = [item_audit(item, record, f1_threshold=f1_threshold) for item, record in pairs]
    metrics = compute_metrics(audited, n_boot=n_boot, seed=seed)
    title = title or f"Grounding audit of {manifest_path.name} ({auditor.model_name})"
    paths = write_reports(metrics, out_dir, title=title, items=audited)
    groups = _by_benchmark(pairs)
    text_stress = (
        {
            name: stress_summary(group, n_boot=n_boot, seed=seed, f1_threshold=f1_threshold)
            for name, group in groups.items()
        }
        if stress
        else None
    )
    sampling = (
        {
            name: sampling_summary(group, pass_k, f1_threshold=f1_threshold)
            for name, group in groups.items()
        }
        if pass_k > 0
        else None
    )
    _augment_reports(paths, text_stress, sampling)
    paths["results"] = results.path
    return AuditRunResult(
        metrics=metrics,
        items=audited,
        paths=paths,
        ran=ran,
        resumed=len(selection) - len(pending),
        text_stress=text_stress,
        sampling=sampling,
    )
