"""The offline runner: every item of a manifest under real, shuffled, blank and no_image.

``run_audit`` turns a manifest into ``<out>/results.jsonl`` (one line per item: every
condition's outcome, fsynced as it is written) and the reports of ``audits.reports.writer``.
Flags and metrics are recomputed from the stored outcomes, so a report only depends on them.

The parts, one job each:
- ``audits.offline.run_records``: settings, result records, audit jobs, the ``Auditor`` protocol;
- ``audits.offline.planning``: shuffled partners, prompts, the resumable results file;
- ``audits.offline.local_auditor``: batched execution on an in-process model, stress, Pass@K;
- ``audits.offline.http_client``: execution on a deployed service;
- ``audits.offline.summaries``: the stress and Pass@K numbers, as report sections.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from audits.contracts.backend import VLMBackend
from audits.contracts.types import AuditMode, Condition, ItemAudit
from audits.data.images import image_problem
from audits.data.manifest import ManifestItem, read_manifest
from audits.offline.local_auditor import DEFAULT_BATCH_ITEMS, LocalAuditor
from audits.offline.planning import (
    RESULTS_NAME,
    ResultsFile,
    canonical_conditions,
    check_settings,
    file_sha256,
    pending_indices,
    presented_question,
    shuffled_partners,
)
from audits.offline.run_records import AuditJob, Auditor, ItemRecord, RunSettings
from audits.offline.summaries import (
    StressSummary,
    by_benchmark,
    by_modality,
    modality_section,
    sampling_section,
    sampling_summary,
    stress_section,
    stress_summary,
)
from audits.reports.sections import ReportSection
from audits.reports.writer import write_reports
from audits.science.conditions import default_conditions
from audits.science.flags import audited_item
from audits.science.metrics import AuditMetrics, compute_metrics
from audits.science.textstress import SampledAccuracy


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
    skipped_items: dict[str, str] = field(default_factory=dict)
    """Items left out because their image could not be read (``on_error="skip"``): id -> why."""


OnError = Literal["stop", "skip"]


class UnreadableItemsError(ValueError):
    """Items whose image cannot be read, found before anything ran (``on_error="stop"``)."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        shown = "; ".join(f"{item_id}: {why}" for item_id, why in list(problems.items())[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            f"{len(problems)} item(s) have an image that cannot be read: {shown}{more}. "
            "Fix the manifest, or pass --on-error skip to audit the rest and count these"
        )


def unreadable_items(items: Iterable[ManifestItem]) -> dict[str, str]:
    """id -> why, for every item whose image cannot be read (each file checked once)."""
    checked: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for item in items:
        if item.image not in checked:
            checked[item.image] = image_problem(item.image)
        problem = checked[item.image]
        if problem is not None:
            problems[item.id] = problem
    return problems


def skipped_section(problems: dict[str, str]) -> ReportSection:
    shown = list(problems.items())[:50]
    return ReportSection(
        "Skipped items",
        ("item", "why"),
        tuple((item_id, why) for item_id, why in shown),
        note=f"{len(problems)} item(s) were left out because their image could not be read"
        + (" (first 50 listed)." if len(problems) > 50 else "."),
        key="skipped_items",
        data={"count": len(problems), "items": problems},
    )


def audited_from_record(
    item: ManifestItem,
    record: ItemRecord,
    *,
    f1_threshold: float | None = None,
    shuffled_reference: str | None = None,
) -> ItemAudit:
    """An audited item with its flags computed from the stored outcomes; with the reference
    answer of its shuffled partner, the oracle flip (chance baseline of IS) is known."""
    audited = audited_item(item.id, item, record.outcomes, f1_threshold=f1_threshold)
    return audited.model_copy(update={"shuffled_reference": shuffled_reference})


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


def shuffled_references(
    pairs: Sequence[tuple[ManifestItem, ItemRecord]], items: Sequence[ManifestItem]
) -> list[str | None]:
    """For each audited item, the correct answer to its question about its shuffled partner's
    image: the reference of the manifest row that asks the same question of that image, None
    when no row does (the partner row itself often asks another question)."""
    image_of = {item.id: item.image for item in items}
    answer_of = {(item.image, item.question): item.answer for item in items}
    return [
        answer_of.get((image_of.get(record.shuffled_partner or ""), item.question))
        for item, record in pairs
    ]


def run_audit(
    manifest_path: str | Path,
    backend_or_client: VLMBackend | Auditor,
    out_dir: str | Path,
    *,
    seed: int = 0,
    mode: AuditMode = "both",
    conditions: Iterable[Condition | str] | None = None,
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
    on_error: OnError = "stop",
) -> AuditRunResult:
    """Audit the first ``limit`` (default: all) items of a manifest and write the reports.

    ``backend_or_client`` is a ``VLMBackend`` (run here, ``batch_items`` items per generate
    call) or an ``Auditor`` such as ``audits.offline.http_client.HttpAuditClient``. Items already in
    ``<out_dir>/results.jsonl`` are not audited again. ``on_record`` sees each new record after
    it was written. Items whose image cannot be read are found before anything runs:
    ``on_error="stop"`` raises ``UnreadableItemsError``; ``"skip"`` audits the others and lists
    the skipped ones in the result and the reports.
    """
    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    if pass_k > 0 and temperature <= 0:
        raise ValueError("Pass@K needs a temperature above 0")
    wanted = canonical_conditions(default_conditions() if conditions is None else conditions)
    items = read_manifest(manifest_path)
    if not items:
        raise ValueError(f"{manifest_path} holds no items")
    problems = unreadable_items(items)
    audited_ids = {item.id for item in (items if limit is None else items[:limit])}
    if on_error == "stop" and audited_ids & problems.keys():
        raise UnreadableItemsError({k: v for k, v in problems.items() if k in audited_ids})
    if problems:
        # never audited, nor drawn as another item's shuffled image
        items = [item for item in items if item.id not in problems]
        if not items:
            raise ValueError(f"no item of {manifest_path} has a readable image")
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
    check_settings(out_dir, settings, auditor.model_name)
    partners = (
        shuffled_partners(items, seed) if Condition.SHUFFLED in wanted else [None] * len(items)
    )
    selection = items if limit is None else items[:limit]
    results = ResultsFile(out_dir / RESULTS_NAME)
    done = results.load()
    pending = pending_indices(selection, done, auditor.group_size)

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
        smoothing=0.0,  # the mean rate of the run: batches finish in bursts, so recent rates swing
    ) as bar:
        for record in auditor.audit(job(i) for i in pending):
            results.append(record)
            done[record.id] = record
            ran += 1
            bar.update()
            if on_record is not None:
                on_record(record)
    pairs = [(item, done[item.id]) for item in selection]
    audited = [
        audited_from_record(item, record, f1_threshold=f1_threshold, shuffled_reference=other)
        for (item, record), other in zip(pairs, shuffled_references(pairs, items), strict=True)
    ]
    metrics = compute_metrics(audited, n_boot=n_boot, seed=seed)
    groups = by_benchmark(pairs)
    sections: list[ReportSection] = []
    skipped = {k: v for k, v in problems.items() if k in audited_ids}
    if skipped:
        sections.append(skipped_section(skipped))
    modalities = by_modality([item for item, _ in pairs], audited, n_boot=n_boot, seed=seed)
    if modalities:
        sections.append(modality_section(modalities))
    text_stress = sampling = None
    if stress:
        text_stress = {
            name: stress_summary(group, n_boot=n_boot, seed=seed, f1_threshold=f1_threshold)
            for name, group in groups.items()
        }
        sections.append(stress_section(text_stress))
    if pass_k > 0:
        sampling = {
            name: sampling_summary(group, pass_k, f1_threshold=f1_threshold)
            for name, group in groups.items()
        }
        sections.append(sampling_section(sampling))
    title = title or f"Grounding audit of {manifest_path.name} ({auditor.model_name})"
    if progress:
        print(f"writing reports to {out_dir} ...", file=sys.stderr, flush=True)
    paths = write_reports(
        metrics,
        out_dir,
        title=title,
        items=audited,
        sections=sections,
        images={item.id: item.image for item, _ in pairs},
    )
    paths["results"] = results.path
    return AuditRunResult(
        metrics=metrics,
        items=audited,
        paths=paths,
        ran=ran,
        resumed=len(selection) - len(pending),
        text_stress=text_stress,
        sampling=sampling,
        skipped_items=skipped,
    )
