"""In-process micro benchmarks of the model runtime and of one audit (no engine, no HTTP)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from audits.contracts.backend import VLMBackend, VLMInput
from audits.contracts.types import COUNTERFACTUALS
from audits.science.audit_steps import AuditMode, ItemAuditRun, ItemAuditSpec
from audits.science.conditions.image_removal import blank_like
from loadtests.payloads import ScanImage
from loadtests.timing import interleaved_medians, ratio


class MicroResult(BaseModel):
    """Runtime calls for one item and its variants (real, another image, blank)."""

    generate_one_ms: float
    generate_batch3_ms: float
    generate_sequential3_ms: float
    score_batch3_ms: float
    batch_vs_sequential: float
    batch3_vs_one: float
    score3_vs_generate_one: float
    score3_vs_generate3: float
    answer: str


class AuditCostResult(BaseModel):
    """One audit (shuffled, blank, no_image) against one production request of the same item."""

    model: str = ""
    production_output_tokens: int = 0
    """Length of the production output the audit mirrors (reasoning outputs: tens of tokens)."""
    production_ms: float
    audit_generate_ms: float
    audit_score_ms: float
    audit_both_ms: float
    audit_generate_sequential_ms: float
    audit_score_sequential_ms: float
    generate_vs_production: float
    score_vs_production: float
    both_vs_production: float
    generate_batched_vs_sequential: float
    score_batched_vs_sequential: float
    scored_rows: int


class OneByOne:
    """A backend that sends a batch's items one call at a time (the unbatched baseline)."""

    def __init__(self, backend: VLMBackend) -> None:
        self.backend = backend
        self.model_name = backend.model_name

    def generate(self, items: Sequence[VLMInput], **kwargs: object) -> list[str]:
        return [self.backend.generate([item], **kwargs)[0] for item in items]  # type: ignore[arg-type]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        return [
            self.backend.score([item], [answer])[0]
            for item, answer in zip(items, answers, strict=True)
        ]


class RowCounter:
    """Counts the rows a backend is asked to score."""

    def __init__(self, backend: VLMBackend) -> None:
        self.backend = backend
        self.model_name = backend.model_name
        self.scored = 0

    def generate(self, items: Sequence[VLMInput], **kwargs: object) -> list[str]:
        return self.backend.generate(items, **kwargs)  # type: ignore[arg-type]

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        self.scored += len(items)
        return self.backend.score(items, answers)


def micro_benchmark(
    backend: VLMBackend, scan: ScanImage, other: ScanImage, question: str, rounds: int
) -> MicroResult:
    real = VLMInput(question, scan.image)
    variants = [real, VLMInput(question, other.image), VLMInput(question, blank_like(scan.image))]
    answer = backend.generate([real])[0]
    medians = interleaved_medians(
        {
            "one": lambda: backend.generate([real]),
            "batch3": lambda: backend.generate(variants),
            "sequential3": lambda: [backend.generate([item]) for item in variants],
            "score3": lambda: backend.score(variants, [answer] * 3),
        },
        rounds,
    )
    return MicroResult(
        generate_one_ms=medians["one"],
        generate_batch3_ms=medians["batch3"],
        generate_sequential3_ms=medians["sequential3"],
        score_batch3_ms=medians["score3"],
        batch_vs_sequential=ratio(medians["batch3"], medians["sequential3"]),
        batch3_vs_one=ratio(medians["batch3"], medians["one"]),
        score3_vs_generate_one=ratio(medians["score3"], medians["one"]),
        score3_vs_generate3=ratio(medians["score3"], medians["batch3"]),
        answer=answer,
    )


def audit_spec(
    scan: ScanImage, other: ScanImage, question: str, mode: AuditMode, real_output: str
) -> ItemAuditSpec:
    """A mirrored audit as the service queues it: the production output is already known."""
    return ItemAuditSpec(
        question=question,
        image=scan.image,
        conditions=COUNTERFACTUALS,
        mode=mode,
        shuffled_image=other.image,
        real_output=real_output,
    )


def audit_cost_benchmark(
    backend: VLMBackend, scan: ScanImage, other: ScanImage, question: str, rounds: int
) -> AuditCostResult:
    real = VLMInput(question, scan.image)
    output = backend.generate([real])[0]
    tokenizer = getattr(backend, "tokenizer", None)
    tokens = len(tokenizer(output, add_special_tokens=False)["input_ids"]) if tokenizer else 0
    one_by_one = OneByOne(backend)
    counter = RowCounter(backend)
    ItemAuditRun(audit_spec(scan, other, question, "score", output)).run_all(counter)

    def audit(mode: AuditMode, runner: VLMBackend) -> None:
        ItemAuditRun(audit_spec(scan, other, question, mode, output)).run_all(runner)

    medians = interleaved_medians(
        {
            "production": lambda: backend.generate([real]),
            "generate": lambda: audit("generate", backend),
            "score": lambda: audit("score", backend),
            "both": lambda: audit("both", backend),
            "generate_seq": lambda: audit("generate", one_by_one),
            "score_seq": lambda: audit("score", one_by_one),
        },
        rounds,
    )
    production = medians["production"]
    return AuditCostResult(
        model=backend.model_name,
        production_output_tokens=tokens,
        production_ms=production,
        audit_generate_ms=medians["generate"],
        audit_score_ms=medians["score"],
        audit_both_ms=medians["both"],
        audit_generate_sequential_ms=medians["generate_seq"],
        audit_score_sequential_ms=medians["score_seq"],
        generate_vs_production=ratio(medians["generate"], production),
        score_vs_production=ratio(medians["score"], production),
        both_vs_production=ratio(medians["both"], production),
        generate_batched_vs_sequential=ratio(medians["generate"], medians["generate_seq"]),
        score_batched_vs_sequential=ratio(medians["score"], medians["score_seq"]),
        scored_rows=counter.scored,
    )
