"""``flipped``: the real image mirrored left-right, a metamorphic probe (DESIGN.md section 3).

A model that reads the image follows the mirror: a side it named moves to the other side, and
every other answer stays. A shortcut that answers from the question alone does not. Per item:
``laterality_followed`` (items whose real answer names one side) and ``flip_invariant`` (items
whose answer names no side and whose question is not a yes/no about a side, where a mirror could
turn either way); their aggregates are the rates ``laterality_consistency`` and
``flip_invariance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps

from audits.contracts.types import UNPARSED, CheckResult, Condition
from audits.science.conditions.registry import (
    AnswerContext,
    ConditionCheck,
    ImageSources,
    Role,
    register_condition,
)
from audits.science.laterality import Side, mirrored, names_a_side, opposite, side_of
from audits.science.rates.registry import check_rate, register_rate

LATERALITY_FOLLOWED = "laterality_followed"
FLIP_INVARIANT = "flip_invariant"


def answer_side(answer: str | None, options: Mapping[str, str] | None) -> Side | None:
    """The side an answer names; an option letter names its option text's side."""
    if answer is None or answer == UNPARSED:
        return None
    if options and answer in options:
        return side_of(options[answer])
    return side_of(answer)


@dataclass(frozen=True)
class LateralityFollowedCheck:
    name: str = LATERALITY_FOLLOWED

    def check(self, ctx: AnswerContext) -> CheckResult:
        real = ctx.answers.get(Condition.REAL)
        under_mirror = ctx.answers.get(Condition.FLIPPED)
        side = answer_side(real, ctx.options)
        value: bool | None = None
        if side is not None and under_mirror not in (None, UNPARSED):
            value = answer_side(under_mirror, ctx.options) == opposite(side)
        return CheckResult(
            name=self.name,
            flagged=value is False,
            score=None if value is None else float(value),
            meta={"answer_real": real, "answer": under_mirror, "side_real": side},
            meaning="flagged = the real answer named a side and the answer to the mirrored "
            "image did not name the other side (score 1 = it followed the mirror, none = the "
            "real answer names no side or the mirrored image got no answer)",
        )


@dataclass(frozen=True)
class FlipInvariantCheck:
    name: str = FLIP_INVARIANT

    def check(self, ctx: AnswerContext) -> CheckResult:
        real = ctx.answers.get(Condition.REAL)
        value: bool | None = None
        side_question = ctx.kind == "closed" and names_a_side(ctx.question)
        if answer_side(real, ctx.options) is None and not side_question:
            changed = ctx.flip(Condition.FLIPPED)
            value = None if changed is None else not changed
        return CheckResult(
            name=self.name,
            flagged=value is False,
            score=None if value is None else float(value),
            meaning="flagged = an answer that names no side changed when the image was "
            "mirrored left-right (score 1 = unchanged, none = a side answer, a yes/no question "
            "about a side, or no answer to compare)",
        )


@dataclass(frozen=True)
class Flipped:
    condition: Condition = Condition.FLIPPED
    role: Role = "metamorphic"
    shows: str = "the real image mirrored left-right"
    colour: str = "#2ca02c"
    default: bool = False

    def image(self, sources: ImageSources) -> Image.Image | None:
        return ImageOps.mirror(sources.real)

    def reference_under(self, reference: str) -> str:
        return mirrored(reference) if side_of(reference) else reference

    def checks(self) -> Sequence[ConditionCheck]:
        return (LateralityFollowedCheck(), FlipInvariantCheck())


FLIPPED = register_condition(Flipped())
LATERALITY_CONSISTENCY = register_rate(
    check_rate(
        "laterality_consistency",
        LATERALITY_FOLLOWED,
        description="of the items whose real answer names a side, the share whose answer to "
        "the mirrored image names the other side",
    )
)
FLIP_INVARIANCE = register_rate(
    check_rate(
        "flip_invariance",
        FLIP_INVARIANT,
        description="of the items whose answer names no side, the share whose answer stayed "
        "when the image was mirrored",
    )
)
