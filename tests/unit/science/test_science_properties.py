"""Property tests: the science core never raises on arbitrary text and keeps its invariants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audits.contracts.audit_record import flags_to_record_fields
from audits.contracts.types import (
    ALL_CONDITIONS,
    COUNTERFACTUALS,
    UNPARSED,
    Condition,
    ConditionOutcome,
)
from audits.science.answer_extraction import final_answer
from audits.science.claims import detect_visual_claims
from audits.science.conditions import counterfactual_conditions
from audits.science.flags import compute_flags
from audits.science.modality_skeptic import is_modality_skeptic
from audits.science.parsing import (
    answers_match,
    locate_reasoning,
    normalize_answer,
    parse_output,
    token_f1,
)

FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "Answer:", "Final answer:", "answer is",
    "(B)", "B.", "option C", "Yes", "no,", "The image shows", "no effusion is seen",
    "I cannot see the image", "pleural effusion", "3.5 cm", "left upper lobe", "\n", ". ", "; ",
    " but ", "If ", "this is not a CT", "hyperdense", "?", "the", "a", UNPARSED,
]  # fmt: skip

# Text built from the syntax the parsers care about, mixed with arbitrary unicode.
texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30).map("".join),
)
option_maps = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["A", "B", "C", "D", "E", "a", "F", " b", "", "AB"]),
        st.one_of(st.sampled_from(["Yes", "No", "pleural effusion", "B", "the", ""]), st.text()),
        max_size=5,
    ),
)
SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(texts)
def test_parse_output_total_and_reasoning_is_a_slice(text: str) -> None:
    parsed = parse_output(text)
    assert parsed.source in {"answer_tag", "answer_line", "short", "none"}
    assert (parsed.answer_text is None) == (parsed.source == "none")
    start, end = locate_reasoning(text)
    assert 0 <= start <= end <= len(text)
    assert text[start:end] == parsed.reasoning


@SETTINGS
@given(texts, option_maps)
def test_normalize_is_idempotent(text: str, options: dict[str, str] | None) -> None:
    once = normalize_answer(text, options)
    assert once
    assert normalize_answer(once, options) == once
    assert normalize_answer(once) == normalize_answer(normalize_answer(once))


@SETTINGS
@given(texts, option_maps)
def test_final_answer_is_normalized(text: str, options: dict[str, str] | None) -> None:
    answer = final_answer(text, options)
    assert normalize_answer(answer, options) == answer


@SETTINGS
@given(texts, texts, st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_answers_match_is_symmetric_and_reflexive(a: str, b: str, threshold: float | None) -> None:
    assert answers_match(a, b, f1_threshold=threshold) == answers_match(
        b, a, f1_threshold=threshold
    )
    assert answers_match(a, a, f1_threshold=threshold)
    assert 0.0 <= token_f1(a, b) <= 1.0
    if normalize_answer(a) == UNPARSED and normalize_answer(b) != UNPARSED:
        assert not answers_match(a, b, f1_threshold=threshold)


@SETTINGS
@given(texts)
def test_claim_spans_are_in_bounds_and_ordered(text: str) -> None:
    spans = detect_visual_claims(text)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.text
        assert span.text == span.text.strip()
        previous_end = span.end


@SETTINGS
@given(texts, texts)
def test_modality_skeptic_total(output: str, answer: str) -> None:
    assert isinstance(is_modality_skeptic(output, answer), bool)


outcomes_strategy = st.dictionaries(
    st.sampled_from(ALL_CONDITIONS),
    st.tuples(
        st.booleans(),
        st.one_of(st.none(), texts),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        st.one_of(
            st.none(),
            st.dictionaries(
                st.sampled_from(["A", "B", "c"]), st.floats(allow_nan=True), max_size=3
            ),
        ),
    ),
)


@SETTINGS
@given(outcomes_strategy, option_maps, st.one_of(st.none(), texts))
def test_compute_flags_total_and_consistent(
    raw: dict[Condition, tuple[bool, str | None, float | None, dict[str, float] | None]],
    options: dict[str, str] | None,
    reference: str | None,
) -> None:
    outcomes = {
        c: ConditionOutcome(condition=c, skipped=sk, output=out, logp=lp, option_logps=ol)
        for c, (sk, out, lp, ol) in raw.items()
    }
    flags = compute_flags(outcomes, options=options, reference=reference)
    assert set(flags.skipped) == {c for c, o in outcomes.items() if o.skipped}
    assert set(flags.flips) <= set(COUNTERFACTUALS) - set(flags.skipped)
    assert not set(flags.answers) & set(flags.skipped)
    invariance = {c: f for c, f in flags.flips.items() if c in counterfactual_conditions()}
    if invariance:
        assert flags.image_invariant is (not any(invariance.values()))
        assert flags.hvr is (flags.visual_claim and flags.image_invariant)
    else:
        assert flags.image_invariant is None and flags.hvr is None
    assert flags.visual_claim == bool(flags.claim_spans)
    real = outcomes.get(Condition.REAL)
    for span in flags.claim_spans:
        assert real is not None and real.output is not None
        assert real.output[span.start : span.end] == span.text
    fields = flags_to_record_fields(flags)
    for condition in COUNTERFACTUALS:
        assert fields[f"flip_{condition.value}"] in {0, 1, ""}
    assert fields["visual_claims"] == len(flags.claim_spans)
