"""Breakdowns of the audit by a property of the items (question type, modality), as sections.

Each group of items gets every aggregate of ``compute_metrics`` (the same intervals and seed as
the whole audit); the section holds the table, the numbers for ``report.json`` and the groups'
metrics that the HTML report plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from audits.contracts.types import Condition, ItemAudit
from audits.reports.format import fmt_rate
from audits.reports.sections import ReportSection
from audits.science.answer_extraction import question_kind
from audits.science.metrics import BenchmarkMetrics, compute_metrics

GROUP_COLUMNS = (
    "n",
    "Acc_real",
    "Acc_shuffled",
    "IS",
    "Oracle IS",
    "IS_blank",
    "Claim rate",
    "HVRR",
)

QUESTION_TYPES: dict[str | None, str] = {
    "closed": "closed (yes/no)",
    "mc": "multiple choice",
    "set": "fixed answer set",
    "open": "open",
    None: "unknown",
}
"""``question_kind``'s kinds as the report names them, in the report's order."""
QUESTION_TYPE_TITLE = "By question type"


def group_metrics(
    items: Sequence[ItemAudit],
    label: Callable[[ItemAudit], str],
    *,
    n_boot: int,
    seed: int,
    order: Sequence[str] | None = None,
) -> dict[str, BenchmarkMetrics]:
    """Every aggregate per group of items (``label`` names an item's group), in ``order`` (else
    by name); each group's metrics are named after it."""
    groups: dict[str, list[ItemAudit]] = {}
    for item in items:
        groups.setdefault(label(item), []).append(item)
    names = [n for n in order if n in groups] if order is not None else sorted(groups)
    names += sorted(set(groups) - set(names))
    return {
        name: compute_metrics(groups[name], n_boot=n_boot, seed=seed).overall.model_copy(
            update={"benchmark": name}
        )
        for name in names
    }


def group_section(
    title: str,
    first_column: str,
    groups: Mapping[str, BenchmarkMetrics],
    *,
    note: str,
    key: str,
) -> ReportSection:
    """A breakdown's table (one row a group), its numbers under ``key`` and its plots."""
    rows = tuple(
        (
            name,
            str(m.n_items),
            fmt_rate(m.accuracy.get(Condition.REAL)),
            fmt_rate(m.accuracy.get(Condition.SHUFFLED)),
            fmt_rate(m.image_sensitivity),
            fmt_rate(m.oracle_is),
            fmt_rate(m.is_blank),
            fmt_rate(m.visual_claim_rate),
            fmt_rate(m.hvrr),
        )
        for name, m in groups.items()
    )
    return ReportSection(
        title,
        (first_column, *GROUP_COLUMNS),
        rows,
        note=note,
        key=key,
        data={name: m.model_dump(mode="json") for name, m in groups.items()},
        groups=dict(groups),
    )


def question_type(item: ItemAudit) -> str:
    kind = question_kind(item.question, item.options, item.reference, item.answer_set)
    return QUESTION_TYPES[kind]


def question_type_section(
    items: Sequence[ItemAudit], *, n_boot: int, seed: int
) -> ReportSection | None:
    """The audit by question type; None when no item's type is known."""
    groups = group_metrics(
        items, question_type, n_boot=n_boot, seed=seed, order=list(QUESTION_TYPES.values())
    )
    if set(groups) <= {QUESTION_TYPES[None]}:
        return None
    return group_section(
        QUESTION_TYPE_TITLE,
        "Question type",
        groups,
        note=(
            "Closed: yes/no questions (or a yes/no answer set); multiple choice: lettered "
            "options; fixed answer set: a closed list of admissible answers (e.g. modalities); "
            "open: free text, correct at reference-token recall and flipped at token-F1 below "
            "the thresholds above. 95% Wilson intervals."
        ),
        key="by_question_type",
    )
