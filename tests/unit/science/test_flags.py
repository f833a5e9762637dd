"""Per-item flags on hand-computed cases."""

from __future__ import annotations

import pytest

from audits.contracts.audit_record import flags_to_record_fields
from audits.contracts.types import UNPARSED, CheckResult, ClaimSpan, Condition, ConditionOutcome
from audits.science.checks import DEFAULT_DELTA_LOGP_THRESHOLD, AnswerFlipCheck
from audits.science.flag_context import FlagContext
from audits.science.flags import compute_flags
from audits.science.open_answers import OPEN_FLIP_F1_THRESHOLD, OPEN_RECALL_THRESHOLD

R, S, B, N = Condition.REAL, Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE
OPTIONS = {"A": "Pleural effusion", "B": "Pneumothorax", "C": "Normal"}
CLAIMING = "<think>The chest X-ray shows a large left pleural effusion.</think><answer>{}</answer>"
PLAIN = "<think>Let me think about the question.</think><answer>{}</answer>"


def gen(condition: Condition, output: str | None) -> ConditionOutcome:
    return ConditionOutcome(condition=condition, output=output)


def skipped(condition: Condition, reason: str) -> ConditionOutcome:
    return ConditionOutcome(condition=condition, skipped=True, skip_reason=reason)


def by_name(checks: list[CheckResult]) -> dict[str, CheckResult]:
    return {c.name: c for c in checks}


def test_grounded_model_flips_and_has_no_hvr() -> None:
    flags = compute_flags(
        {
            R: gen(R, CLAIMING.format("Yes")),
            S: gen(S, PLAIN.format("No")),
            B: gen(B, PLAIN.format("no")),
            N: gen(N, PLAIN.format("Yes, there is")),
        },
        reference="yes",
    )
    assert flags.answers == {R: "yes", S: "no", B: "no", N: "yes"}
    assert flags.flips == {S: True, B: True, N: False}
    assert flags.image_invariant is False
    assert flags.visual_claim is True
    assert flags.hvr is False
    assert flags.correct == {R: True, S: False, B: False, N: True}
    assert flags.skipped == {}
    checks = by_name(flags.checks)
    assert checks["flip_shuffled"].flagged and checks["flip_shuffled"].score == 1.0
    assert checks["flip_shuffled"].meta == {"answer_real": "yes", "answer": "no"}
    assert not checks["flip_no_image"].flagged
    assert not checks["hvr"].flagged
    assert set(checks) == {
        "flip_shuffled", "flip_blank", "flip_no_image",
        "delta_logp_shuffled", "delta_logp_blank", "delta_logp_no_image",
        "visual_claim", "image_invariant", "hvr", "modality_skeptic",
        "flip_flipped", "laterality_followed", "flip_invariant",
    }  # fmt: skip


def test_invariant_answers_with_visual_claims_are_hvr() -> None:
    flags = compute_flags(
        {
            R: gen(R, CLAIMING.format("(A)")),
            S: gen(S, PLAIN.format("A")),
            B: gen(B, "Answer: pleural effusion"),
        },
        options=OPTIONS,
        reference="Pleural effusion",
    )
    assert flags.answers == {R: "A", S: "A", B: "A"}
    assert flags.flips == {S: False, B: False}
    assert N not in flags.flips
    assert flags.image_invariant is True
    assert flags.hvr is True
    assert flags.correct == {R: True, S: True, B: True}
    span = flags.claim_spans[0]
    raw = CLAIMING.format("(A)")
    assert (
        raw[span.start : span.end]
        == span.text
        == ("The chest X-ray shows a large left pleural effusion.")
    )
    assert by_name(flags.checks)["hvr"].flagged


def test_invariant_without_claims_is_not_hvr() -> None:
    flags = compute_flags({R: gen(R, PLAIN.format("no")), S: gen(S, PLAIN.format("no"))})
    assert flags.image_invariant is True
    assert flags.visual_claim is False
    assert flags.claim_spans == []
    assert flags.hvr is False


def test_skipped_shuffled_never_flips_and_is_reported() -> None:
    flags = compute_flags(
        {
            R: gen(R, CLAIMING.format("yes")),
            S: skipped(S, "empty shuffle pool"),
            B: gen(B, PLAIN.format("yes")),
        }
    )
    assert flags.skipped == {S: "empty shuffle pool"}
    assert flags.flips == {B: False}
    assert S not in flags.answers
    assert flags.image_invariant is True
    assert flags.hvr is True
    check = by_name(flags.checks)["flip_shuffled"]
    assert not check.flagged
    assert check.score is None
    assert check.meta["skipped"] == "empty shuffle pool"
    fields = flags_to_record_fields(flags)
    assert fields["flip_shuffled"] == ""
    assert fields["flip_blank"] == 0
    assert fields["flip_no_image"] == ""


def test_only_skipped_counterfactuals_leave_invariance_unknown() -> None:
    flags = compute_flags(
        {R: gen(R, CLAIMING.format("yes")), S: skipped(S, "pool empty"), B: skipped(B, "error")}
    )
    assert flags.flips == {}
    assert flags.image_invariant is None
    assert flags.hvr is None
    assert flags.visual_claim is True
    fields = flags_to_record_fields(flags)
    assert fields["image_invariant"] == ""
    assert fields["hvr"] == ""
    assert fields["visual_claims"] == 1


def test_unparsed_answers_are_recorded_but_never_flip() -> None:
    # DESIGN "Final answers from real outputs": <unparsed> is only for outputs with no answer
    # (refusal, boilerplate, empty); a flip against it is unknown, not a flip.
    refusal = "I'm sorry, I cannot interpret medical images."
    flags = compute_flags(
        {R: gen(R, refusal), S: gen(S, "As an AI, I cannot help."), B: gen(B, "Answer: yes")},
        reference="yes",
    )
    assert flags.answers == {R: UNPARSED, S: UNPARSED, B: "yes"}
    assert flags.flips == {}
    assert flags.image_invariant is None
    assert flags.hvr is None
    assert flags.correct == {R: False, S: False, B: True}
    fields = flags_to_record_fields(flags)
    assert fields["flip_shuffled"] == "" and fields["flip_blank"] == ""


def test_unparsed_counterfactual_is_left_out_of_flips() -> None:
    flags = compute_flags(
        {
            R: gen(R, CLAIMING.format("Yes")),
            S: gen(S, "I'm sorry, I cannot see the image."),
            B: gen(B, ""),
            N: gen(N, PLAIN.format("no")),
        },
        question="Is there a pleural effusion?",
    )
    assert flags.answers == {R: "yes", S: UNPARSED, B: UNPARSED, N: "no"}
    assert flags.flips == {N: True}
    assert flags.image_invariant is False
    check = by_name(flags.checks)["flip_shuffled"]
    assert not check.flagged and check.score is None


def test_a_long_output_without_a_marker_still_answers() -> None:
    # The old parser left this <unparsed> and counted it as a flip against any answer.
    long_text = (
        "The image shows the chest with findings in the lower zones that are hard to "
        "characterize further without a comparison study."
    )
    flags = compute_flags({R: gen(R, long_text), S: gen(S, long_text + " More.")})
    assert flags.answers[R] != UNPARSED
    assert flags.flips == {S: False}


def test_score_mode_argmax_and_delta_logp() -> None:
    flags = compute_flags(
        {
            R: ConditionOutcome(condition=R, option_logps={"A": -0.1, "B": -2.5, "C": -4.0}),
            S: ConditionOutcome(condition=S, option_logps={"A": -1.6, "B": -0.3, "C": -4.0}),
            B: ConditionOutcome(condition=B, option_logps={"a": -0.4, "b": -1.9, "c": -3.0}),
            N: ConditionOutcome(condition=N, option_logps={"A": -0.5, "B": -0.5, "C": -9.0}),
        },
        options=OPTIONS,
        reference="(A)",
    )
    assert flags.answers == {R: "A", S: "B", B: "A", N: "A"}  # the tie on N goes to A
    assert flags.flips == {S: True, B: False, N: False}
    assert flags.delta_logp[S] == pytest.approx(1.5)
    assert flags.delta_logp[B] == pytest.approx(0.3)
    assert flags.delta_logp[N] == pytest.approx(0.4)
    checks = by_name(flags.checks)
    assert not checks["delta_logp_shuffled"].flagged
    assert checks["delta_logp_blank"].flagged
    assert checks["delta_logp_blank"].threshold == DEFAULT_DELTA_LOGP_THRESHOLD
    assert flags.correct == {R: True, S: False, B: True, N: True}
    assert flags.visual_claim is False
    assert flags.modality_skeptic is False


def test_score_only_open_question_has_only_delta_logp() -> None:
    flags = compute_flags(
        {
            R: ConditionOutcome(condition=R, logp=-1.0),
            S: ConditionOutcome(condition=S, logp=-4.5),
            B: ConditionOutcome(condition=B, logp=-1.2),
            N: skipped(N, "not requested"),
        },
        reference="effusion",
    )
    assert flags.answers == {}
    assert flags.flips == {}
    assert flags.image_invariant is None
    assert flags.correct == {}
    assert flags.delta_logp == {S: pytest.approx(3.5), B: pytest.approx(0.2)}
    fields = flags_to_record_fields(flags)
    assert fields["delta_logp_shuffled"] == pytest.approx(3.5)
    assert fields["delta_logp_no_image"] == ""
    assert fields["flip_shuffled"] == ""
    checks = by_name(flags.checks)
    assert checks["delta_logp_blank"].flagged
    assert not checks["delta_logp_shuffled"].flagged
    assert not checks["delta_logp_no_image"].flagged
    assert checks["delta_logp_no_image"].score is None


def test_negative_delta_logp_is_flagged() -> None:
    flags = compute_flags(
        {R: ConditionOutcome(condition=R, logp=-3.0), N: ConditionOutcome(condition=N, logp=-1.0)}
    )
    assert flags.delta_logp == {N: pytest.approx(-2.0)}
    assert by_name(flags.checks)["delta_logp_no_image"].flagged


def test_modality_skeptic_with_confident_answer() -> None:
    output = "<think>This is not a CT, it is a chest radiograph.</think><answer>Yes</answer>"
    flags = compute_flags({R: gen(R, output), S: gen(S, output)})
    assert flags.modality_skeptic is True
    assert by_name(flags.checks)["modality_skeptic"].flagged
    assert flags_to_record_fields(flags)["modality_skeptic"] == 1


def test_modality_skeptic_needs_a_committed_answer() -> None:
    output = "<think>This is not a CT.</think><answer>cannot be determined</answer>"
    assert compute_flags({R: gen(R, output)}).modality_skeptic is False


def test_open_answer_direction_swap_flips_and_is_wrong() -> None:
    # token F1 of "left upper lobe" vs "left lower lobe" is 2/3, above OPEN_FLIP_F1_THRESHOLD,
    # but the swapped direction makes it another answer; recall 2/3 < OPEN_RECALL_THRESHOLD.
    outcomes = {R: gen(R, "left upper lobe"), S: gen(S, "left lower lobe")}
    strict = compute_flags(outcomes, reference="the left lower lobe")
    loose = compute_flags(outcomes, reference="the left lower lobe", f1_threshold=0.6)
    assert strict.flips == {S: True}
    assert strict.correct == {R: False, S: True}
    assert loose.flips == {S: True}
    assert loose.correct == {R: False, S: True}


def test_f1_threshold_applies_to_open_flips_and_correctness() -> None:
    # content-token F1 of the two answers: P 2/3, R 2/4 -> 4/7 ~ 0.571
    outcomes = {R: gen(R, "pancreatic head mass"), S: gen(S, "pancreatic head cystic lesion")}
    default = compute_flags(outcomes, reference="pancreatic head mass")
    assert default.flips == {S: False}  # 0.571 >= OPEN_FLIP_F1_THRESHOLD (0.5)
    assert default.correct == {R: True, S: False}  # S recalls 2/3 < 0.67
    strict = compute_flags(outcomes, reference="pancreatic head mass", f1_threshold=0.6)
    assert strict.flips == {S: True}
    assert strict.correct == {R: True, S: False}
    loose = compute_flags(outcomes, reference="pancreatic head mass", f1_threshold=0.5)
    assert loose.flips == {S: False}
    assert loose.correct == {R: True, S: True}  # token F1 4/7 >= 0.5 also matches
    check = by_name(strict.checks)["flip_shuffled"]
    assert check.flagged and check.threshold == 0.6


def test_open_flips_by_token_f1_and_correctness_by_recall() -> None:
    question = "Where is the mass located?"
    reference = "periampullary region of the pancreas"
    flags = compute_flags(
        {
            R: gen(R, "The mass is located in the periampullary region of the pancreas."),
            S: gen(S, "Human: The mass is in the right lobe of the liver."),
            B: gen(
                B,
                "The mass is seen in the periampullary region of the pancreas, near the duodenum.",
            ),
            N: gen(N, "<think>Likely pancreatic.</think><answer>Pancreas</answer>"),
        },
        question=question,
        reference=reference,
    )
    assert flags.flips == {S: True, B: False, N: True}
    # recall of {periampullary, region, pancreas}: 3/3, 0/3, 3/3, 1/3
    assert flags.correct == {R: True, S: False, B: True, N: False}
    assert OPEN_FLIP_F1_THRESHOLD == 0.5
    assert OPEN_RECALL_THRESHOLD == 0.67
    assert by_name(flags.checks)["flip_shuffled"].threshold == OPEN_FLIP_F1_THRESHOLD


def test_closed_question_answers_from_real_styles() -> None:
    flags = compute_flags(
        {
            R: gen(R, "Human: Yes, the diaphragm is obscured on the left."),
            S: gen(S, "No, the diaphragm is clearly seen."),
            B: gen(B, "Sí, el diafragma está oculto."),
            N: gen(N, "The diaphragm is obscured by the effusion."),
        },
        question="Is the diaphragm obscured?",
        reference="yes",
    )
    assert flags.answers == {R: "yes", S: "no", B: "yes", N: "yes"}
    assert flags.flips == {S: True, B: False, N: False}
    assert flags.correct == {R: True, S: False, B: True, N: True}
    assert by_name(flags.checks)["flip_shuffled"].threshold is None


def test_multiple_choice_real_styles() -> None:
    flags = compute_flags(
        {
            R: gen(R, "The right answer is C, normal."),
            S: gen(S, "It could be A, but the best answer is B."),
            B: gen(B, "\\boxed{C}"),
            N: gen(N, "A round opacity is seen. Pleural effusion."),
        },
        options=OPTIONS,
        reference="C",
    )
    assert flags.answers == {R: "C", S: "B", B: "C", N: "A"}
    assert flags.flips == {S: True, B: False, N: True}


def test_empty_reference_gives_no_correctness() -> None:
    assert compute_flags({R: gen(R, "yes")}, reference="  ").correct is None
    assert compute_flags({R: gen(R, "yes")}).correct is None


def test_skipped_real_condition() -> None:
    flags = compute_flags({R: skipped(R, "error"), S: gen(S, "yes")})
    assert flags.skipped == {R: "error"}
    assert flags.flips == {}
    assert flags.claim_spans == []
    assert flags.image_invariant is None


def test_custom_detector_and_extra_check() -> None:
    class EveryWord:
        def detect(self, text: str) -> list[ClaimSpan]:
            return [ClaimSpan(start=0, end=len(text), text=text, category="x", trigger="x")]

    class AlwaysFlag:
        name = "always"

        def check(self, ctx: FlagContext) -> CheckResult:
            return CheckResult(name=self.name, flagged=True, meta={"n": len(ctx.answers)})

    output = PLAIN.format("yes")
    flags = compute_flags(
        {R: gen(R, output), S: gen(S, "yes")},
        claim_detector=EveryWord(),
        checks=[AnswerFlipCheck(S), AlwaysFlag()],
    )
    # a detector sees the whole output (claims may follow the answer); offsets index it
    span = flags.claim_spans[0]
    assert (span.start, span.end) == (0, len(output))
    assert flags.hvr is True
    assert [c.name for c in flags.checks] == ["flip_shuffled", "always"]
    assert flags.checks[1].meta == {"n": 2}


def test_record_fields_schema() -> None:
    flags = compute_flags(
        {
            R: ConditionOutcome(condition=R, output=CLAIMING.format("yes"), logp=-0.2),
            S: ConditionOutcome(condition=S, output=PLAIN.format("no"), logp=-2.2),
            B: ConditionOutcome(condition=B, output=PLAIN.format("yes"), logp=-0.7),
            N: ConditionOutcome(condition=N, output=PLAIN.format("yes"), logp=-0.4),
        }
    )
    assert flags_to_record_fields(flags) == {
        "flip_shuffled": 1,
        "flip_blank": 0,
        "flip_no_image": 0,
        "delta_logp_shuffled": pytest.approx(2.0),
        "delta_logp_blank": pytest.approx(0.5),
        "delta_logp_no_image": pytest.approx(0.2),
        "visual_claims": 1,
        "hvr": 0,
        "modality_skeptic": 0,
        "image_invariant": 0,
        "flip_flipped": "",
        "delta_logp_flipped": "",
    }


def test_claims_after_the_answer_and_in_a_short_answer_are_found() -> None:
    after = "Answer: B. The CT shows a large mass in the right kidney."
    flags = compute_flags({R: gen(R, after), S: gen(S, "Answer: B")}, options={"A": "x", "B": "y"})
    assert flags.visual_claim and flags.hvr is True
    span = flags.claim_spans[0]
    assert "large mass" in after[span.start : span.end]
    short = "Yes, there is a left pleural effusion."
    flags = compute_flags({R: gen(R, short), S: gen(S, "yes")})
    assert flags.visual_claim and flags.answers[R] == "yes"
    bare = compute_flags({R: gen(R, "<answer>yes</answer>"), S: gen(S, "no")})
    assert bare.claim_spans == []


def test_every_check_says_what_flagged_means() -> None:
    outcomes = {
        R: ConditionOutcome(condition=R, output=CLAIMING.format("Yes"), logp=-0.1),
        B: ConditionOutcome(condition=B, output=PLAIN.format("yes"), logp=-0.10007),
    }
    checks = by_name(compute_flags(outcomes).checks)
    assert all(c.meaning and c.meaning.startswith("flagged = ") for c in checks.values())
    shift = checks["delta_logp_blank"]
    # a tiny shift is flagged: the answer barely depends on the image, and the text says so
    assert shift.flagged and shift.score is not None and abs(shift.score) < 1e-3
    assert "less than 1 nats" in (shift.meaning or "") and "gray" in (shift.meaning or "")
    assert "another patient's image" in (checks["flip_shuffled"].meaning or "")
