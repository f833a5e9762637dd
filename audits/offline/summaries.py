"""The extras' numbers: text stress tests and Acc@1 / Pass@K, per benchmark and Overall.

Computed from the stored records (``results.jsonl``), so they only depend on them; each kind
becomes one ``ReportSection`` (its table, and its numbers under a key of ``report.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from audits.contracts.types import Condition, ItemAudit
from audits.data.dicom import OTHER_MODALITY, normalize_modality
from audits.data.manifest import ManifestItem
from audits.offline.run_records import ItemRecord
from audits.reports.breakdowns import group_metrics, group_section
from audits.reports.format import fmt_diff, fmt_float, fmt_rate
from audits.reports.sections import ReportSection
from audits.science.estimates import Rate
from audits.science.metrics import OVERALL, BenchmarkMetrics
from audits.science.textstress import (
    LetterSummary,
    SampledAccuracy,
    StressResult,
    faithfulness_rate,
    is_correct,
    letter_summary,
    sampled_accuracy,
    stress_deltas,
)

Pair = tuple[ManifestItem, ItemRecord]

STRESS_TITLE = "Text stress tests (option questions)"
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
SAMPLING_TITLE = "Acc@1 and Pass@K"
SAMPLING_COLUMNS = (
    "Benchmark",
    "n",
    "K",
    "Acc@1",
    "Pass@K",
    "Pass@K (unbiased)",
    "Mean sample acc",
)


class StressSummary(BaseModel):
    n_items: int
    """Option questions the stress tests ran on."""
    accuracy: StressResult
    """Base = the real condition (the same prompt); deltas = perturbed - base, paired."""
    letters: LetterSummary | None
    faithfulness: Rate | None
    """Over every item whose real output can be judged (options or yes/no, with a verdict)."""


def by_benchmark(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    """Overall first, then each benchmark in name order."""
    groups: dict[str, list[Pair]] = {OVERALL: list(pairs)}
    for name in sorted({item.benchmark for item, _ in pairs}):
        groups[name] = [p for p in pairs if p[0].benchmark == name]
    return groups


def _real_output(record: ItemRecord) -> str | None:
    real = record.outcomes.get(Condition.REAL)
    return None if real is None else real.output


def stress_summary(
    pairs: Sequence[Pair],
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
    pairs: Sequence[Pair], k: int, *, f1_threshold: float | None = None
) -> SampledAccuracy:
    scored = [(item, r) for item, r in pairs if r.samples and item.answer.strip()]

    def correct(output: str | None, item: ManifestItem) -> bool:
        return is_correct(output, item.answer, item.options, f1_threshold=f1_threshold)

    return sampled_accuracy(
        [[correct(s, item) for s in r.samples or []] for item, r in scored],
        k,
        [correct(_real_output(r), item) for item, r in scored],
    )


def stress_section(summaries: Mapping[str, StressSummary]) -> ReportSection:
    rows = []
    for name, s in summaries.items():
        a = s.accuracy
        rows.append(
            (
                name,
                str(s.n_items),
                fmt_rate(a.acc_base),
                fmt_rate(a.acc_wrong_caption),
                fmt_diff(a.wrong_caption_delta),
                fmt_rate(a.acc_wrong_think),
                fmt_diff(a.wrong_think_delta),
                fmt_float(s.letters.mean_p_base if s.letters else None),
                fmt_float(s.letters.mean_entropy_nats if s.letters else None),
                fmt_rate(s.faithfulness),
            )
        )
    data = {k: v.model_dump(mode="json") for k, v in summaries.items()}
    return ReportSection(STRESS_TITLE, STRESS_COLUMNS, tuple(rows), key="text_stress", data=data)


def sampling_section(summaries: Mapping[str, SampledAccuracy]) -> ReportSection:
    rows = tuple(
        (
            name,
            str(s.n_items),
            str(s.k),
            fmt_rate(s.acc_at_1),
            fmt_rate(s.pass_at_k),
            fmt_float(s.pass_at_k_unbiased),
            fmt_float(s.mean_sample_accuracy),
        )
        for name, s in summaries.items()
    )
    data = {k: v.model_dump(mode="json") for k, v in summaries.items()}
    return ReportSection(SAMPLING_TITLE, SAMPLING_COLUMNS, rows, key="sampling", data=data)


MODALITY_TITLE = "By modality"
MODALITY_ALIASES: dict[str, str] = {
    "xray": "CR/DX",
    "x-ray": "CR/DX",
    "radiograph": "CR/DX",
    "radiography": "CR/DX",
    "cxr": "CR/DX",
    "mri": "MR",
    "ultrasound": "US",
    "mammography": "MG",
    "mammogram": "MG",
    "pet": "PT",
    "angiography": "XA",
}
"""Common names of modalities in data sets -> the DICOM modality code(s) they stand for."""


def modality_label(value: str | None) -> str:
    """The offline reports' label of a manifest's modality: a DICOM code as the service labels
    it (``ct`` -> CT); a common name with its code and the manifest's own word (``xray`` ->
    "CR/DX (xray)"); any other name as written; ``unknown`` without one. The service's
    ``normalize_modality`` (low-cardinality metric labels) is unchanged."""
    code = normalize_modality(value)
    if code != OTHER_MODALITY or value is None:
        return code
    text = " ".join(str(value).split())
    alias = MODALITY_ALIASES.get(text.lower().replace(" ", "").replace("_", "-"))
    return f"{alias} ({text})" if alias is not None else text


def by_modality(
    items: Sequence[ManifestItem], audited: Sequence[ItemAudit], *, n_boot: int, seed: int
) -> dict[str, BenchmarkMetrics]:
    """Every aggregate per manifest ``modality`` as ``modality_label`` names it (items without
    one are ``unknown``); empty when no item names a modality."""
    if not any(item.modality for item in items):
        return {}
    labels = {
        id(audit): modality_label(item.modality) for item, audit in zip(items, audited, strict=True)
    }
    return group_metrics(audited, lambda audit: labels[id(audit)], n_boot=n_boot, seed=seed)


def modality_section(metrics: Mapping[str, BenchmarkMetrics]) -> ReportSection:
    return group_section(
        MODALITY_TITLE,
        "Modality",
        metrics,
        note=(
            "The manifest's modality field: DICOM modality codes as the service labels them "
            "(CT, MR, CR, DX, US, MG, PT, NM, XA); common names mapped to their code, "
            "with the manifest's word in brackets (xray, x-ray, radiograph, cxr -> CR/DX; mri -> "
            "MR; ultrasound -> US; mammography -> MG; pet -> PT); other names as written; "
            "unknown without one. 95% Wilson intervals."
        ),
        key="by_modality",
    )
