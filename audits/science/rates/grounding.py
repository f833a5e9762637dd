"""The grounding rates of DESIGN.md section 3 (image sensitivity, claims, hallucinated
reasoning...), registered once for the offline report and the online figures."""

from __future__ import annotations

from collections.abc import Callable

from audits.contracts.types import Condition
from audits.science.rates.registry import ItemRate, RateInputs, register_rate


def _flip(condition: Condition) -> Callable[[RateInputs], bool | None]:
    def value(inputs: RateInputs) -> bool | None:
        return inputs.flags.flips.get(condition)

    return value


def _with_text(inputs: RateInputs, value: bool) -> bool | None:
    return value if inputs.has_text else None


def hvr(inputs: RateInputs) -> bool | None:
    """hvr where the image invariance is known and the real output is text."""
    flags = inputs.flags
    if not inputs.has_text:
        return None
    if flags.hvr is not None:
        return flags.hvr
    if flags.image_invariant is None:
        return None
    return bool(_claimed(inputs) and flags.image_invariant)


def _claimed(inputs: RateInputs) -> bool:
    return inputs.flags.visual_claim or bool(inputs.flags.claim_spans)


def _oracle_is(inputs: RateInputs) -> bool | None:
    if inputs.oracle_flip is None or Condition.SHUFFLED.value not in inputs.ran:
        return None
    return inputs.oracle_flip


def _invariant_given_claim(inputs: RateInputs) -> bool | None:
    flags = inputs.flags
    if flags.image_invariant is None or not flags.visual_claim:
        return None
    return flags.image_invariant


def _hvr_should_change(inputs: RateInputs) -> bool | None:
    return hvr(inputs) if inputs.oracle_flip else None


IMAGE_SENSITIVITY = register_rate(
    ItemRate(
        name="image_sensitivity",
        label="IS",
        description="IS: share of items whose answer changed when the image was another "
        "patient's (flip_shuffled)",
        value=_flip(Condition.SHUFFLED),
        by_modality=True,
        counter="shuffled",
    )
)
IS_BLANK = register_rate(
    ItemRate(
        name="is_blank",
        label="IS_blank",
        description="share of items whose answer changed with a uniform gray image",
        value=_flip(Condition.BLANK),
        by_modality=True,
        counter="blank",
    )
)
HVRR = register_rate(
    ItemRate(
        name="hvrr",
        label="HVRR",
        description="hallucinated visual reasoning: visual claims in the output, yet no "
        "counterfactual changed the answer (over items with text and a known invariance)",
        value=hvr,
        by_modality=True,
        counter="hvr",
    )
)
VISUAL_CLAIM_RATE = register_rate(
    ItemRate(
        name="visual_claim_rate",
        label="claim_rate",
        description="share of outputs that state something about the image",
        value=lambda inputs: _with_text(inputs, _claimed(inputs)),
        counter="claim",
    )
)
MODALITY_SKEPTIC_RATE = register_rate(
    ItemRate(
        name="modality_skeptic_rate",
        label="modality_skeptic_rate",
        description="answers committed although the reasoning says the image does not fit the "
        "question",
        value=lambda inputs: _with_text(inputs, inputs.flags.modality_skeptic),
        counter="skeptic",
    )
)
IMAGE_INVARIANT_RATE = register_rate(
    ItemRate(
        name="image_invariant_rate",
        label="Invariant",
        description="share of items that no counterfactual changed",
        value=lambda inputs: inputs.flags.image_invariant,
        online=False,
    )
)
P_INVARIANT_GIVEN_CLAIM = register_rate(
    ItemRate(
        name="p_invariant_given_claim",
        label="P(invariant | claim)",
        description="of the items with a visual claim, the share no counterfactual changed",
        value=_invariant_given_claim,
        online=False,
    )
)
ORACLE_IS = register_rate(
    ItemRate(
        name="oracle_is",
        label="Oracle IS",
        description="chance baseline: the share of shuffled pairs whose reference answers "
        "differ, what a perfectly grounded model would score as IS (needs both references)",
        value=_oracle_is,
        online=False,
    )
)
HVRR_SHOULD_CHANGE = register_rate(
    ItemRate(
        name="hvrr_should_change",
        label="HVRR where it should change",
        description="HVRR over the items whose shuffled counterfactual should change the answer",
        value=_hvr_should_change,
        online=False,
    )
)
