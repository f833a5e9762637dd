"""Reference figures reported by the seed paper, printed beside an audit's own."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from audits.science.metrics import OVERALL


class PaperFigure(BaseModel):
    """One reference figure reported by the seed paper (Qwen2.5-VL-7B variants)."""

    model_config = ConfigDict(frozen=True)

    metric: str
    benchmark: str
    model: str
    value: float | None = None
    low: float | None = None
    high: float | None = None
    note: str = ""


PAPER_REFERENCE: tuple[PaperFigure, ...] = (
    PaperFigure(metric="IS", benchmark=OVERALL, model="base", value=0.482),
    PaperFigure(
        metric="IS",
        benchmark=OVERALL,
        model="image-text RLVR",
        value=0.398,
        note="accuracy 58.8%",
    ),
    PaperFigure(metric="Acc_real", benchmark=OVERALL, model="image-text RLVR", value=0.588),
    PaperFigure(
        metric="IS", benchmark="VQA-RAD", model="image-text", value=0.29, note="from 43% to 29%"
    ),
    PaperFigure(metric="Acc_real", benchmark="PathVQA", model="text-only RLVR", value=0.56),
    PaperFigure(metric="Acc_shuffled", benchmark="PathVQA", model="text-only RLVR", value=0.65),
    PaperFigure(metric="VRS", benchmark="PathVQA", model="text-only RLVR", value=-0.09),
    PaperFigure(
        metric="blank retention",
        benchmark="VQA-RAD",
        model="text-only RLVR",
        value=0.81,
        note="keeps 81% of its accuracy with a blank image",
    ),
    PaperFigure(metric="visual-claim rate", benchmark=OVERALL, model="all", low=0.68, high=0.74),
    PaperFigure(metric="HVRR", benchmark=OVERALL, model="all", low=0.38, high=0.43),
    PaperFigure(
        metric="P(invariant | claim)",
        benchmark=OVERALL,
        model="image-text RLVR",
        value=0.61,
        note="share of visual claims that did not influence the answer",
    ),
)
