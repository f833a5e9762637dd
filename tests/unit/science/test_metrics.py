"""Metrics on hand-made ItemFlags; every expected number is computed by hand in comments."""

from __future__ import annotations

import math

import pytest

from audits.contracts.types import (
    COUNTERFACTUALS,
    UNPARSED,
    Condition,
    ConditionOutcome,
    ItemAudit,
    ItemFlags,
)
from audits.reports.paper import PAPER_REFERENCE
from audits.science.intervals import wilson_interval
from audits.science.metrics import OVERALL, AuditMetrics, compute_metrics
from audits.science.prompts import option_question_prompt
from audits.science.textstress import (
    faithfulness,
    faithfulness_rate,
    is_correct,
    letter_entropy,
    letter_summary,
    p_base,
    sampled_accuracy,
    stress_deltas,
    wrong_caption_prompt,
    wrong_letter_for,
    wrong_think_prefill,
)

R, S, B, N = Condition.REAL, Condition.SHUFFLED, Condition.BLANK, Condition.NO_IMAGE
ORDER = (R, S, B, N)


def make_item(
    item_id: str,
    answers: dict[Condition, str],
    *,
    correct: tuple[int, ...] | None = None,
    claim: bool = False,
    benchmark: str = "rad",
    skipped: tuple[Condition, ...] = (),
    delta: dict[Condition, float] | None = None,
    text: bool = True,
) -> ItemAudit:
    """An audit whose flags follow DESIGN.md section 3 from the given answers."""
    flips = {c: answers[c] != answers[R] for c in COUNTERFACTUALS if c in answers and R in answers}
    invariant = (not any(flips.values())) if flips else None
    correct_map = None
    if correct is not None:
        correct_map = {c: bool(v) for c, v in zip(ORDER, correct, strict=True) if c in answers}
    outcomes = {
        c: ConditionOutcome(condition=c, output=f"answer: {a}" if text else None, logp=-1.0)
        for c, a in answers.items()
    }
    outcomes |= {
        c: ConditionOutcome(condition=c, skipped=True, skip_reason="pool") for c in skipped
    }
    flags = ItemFlags(
        answers=answers,
        flips=flips,
        delta_logp=delta or {},
        correct=correct_map,
        visual_claim=claim,
        image_invariant=invariant,
        hvr=None if invariant is None else claim and invariant,
        skipped={c: "pool" for c in skipped},
    )
    return ItemAudit(
        id=item_id,
        benchmark=benchmark,
        reference="yes" if correct is not None else None,
        outcomes=outcomes,
        flags=flags,
    )


def five_items() -> list[ItemAudit]:
    return [
        # correct real/shuffled/blank/no_image = 1,0,0,0; every counterfactual flips
        make_item("i1", {R: "yes", S: "no", B: "no", N: "no"}, correct=(1, 0, 0, 0), claim=True),
        # invariant and right everywhere: an hvr (claim + invariant)
        make_item("i2", {R: "yes", S: "yes", B: "yes", N: "yes"}, correct=(1, 1, 1, 1), claim=True),
        make_item("i3", {R: "no", S: "yes", B: "no", N: "yes"}, correct=(0, 1, 0, 1)),
        # no_image unparsed: a flip and wrong
        make_item(
            "i4", {R: "yes", S: "yes", B: "yes", N: UNPARSED}, correct=(1, 1, 1, 0), claim=True
        ),
        # blank skipped; invariant over what ran: an hvr
        make_item(
            "i5", {R: "no", S: "no", N: "no"}, correct=(0, 0, 0, 0), claim=True, skipped=(B,)
        ),
    ]


def test_hand_computed_fixture() -> None:
    m = compute_metrics(five_items(), n_boot=300).benchmarks["rad"]
    assert m.n_items == 5
    assert m.n_with_reference == 5
    acc = {c: (r.k, r.n) for c, r in m.accuracy.items() if r is not None}
    assert acc == {R: (3, 5), S: (3, 5), B: (2, 4), N: (2, 5)}
    assert (m.accuracy[R].lo, m.accuracy[R].hi) == pytest.approx(wilson_interval(3, 5))
    assert m.vrs is not None
    assert (m.vrs.value, m.vrs.n) == (pytest.approx(0.0), 5)
    assert m.vrs.lo < 0 < m.vrs.hi
    assert m.mcnemar is not None
    assert (m.mcnemar.b, m.mcnemar.c, m.mcnemar.p_value) == (1, 1, 1.0)
    assert m.image_sensitivity is not None and m.is_blank is not None
    assert (m.image_sensitivity.k, m.image_sensitivity.n) == (2, 5)
    assert (m.is_blank.k, m.is_blank.n) == (1, 4)
    no_image = m.flip_rate[N]
    assert no_image is not None and (no_image.k, no_image.n) == (3, 5)
    # paired over i1..i4: Acc_blank 2/4 over Acc_real 3/4
    assert m.blank_retention is not None
    assert (m.blank_retention.value, m.blank_retention.n) == (pytest.approx(2 / 3), 4)
    assert m.multimodal_gain is not None
    assert m.multimodal_gain.value == pytest.approx(0.2)
    assert m.visual_claim_rate is not None and m.visual_claim_rate.k == 4
    assert m.image_invariant_rate is not None
    assert (m.image_invariant_rate.k, m.image_invariant_rate.n) == (2, 5)
    assert m.hvrr is not None and (m.hvrr.k, m.hvrr.n) == (2, 5)
    pic = m.p_invariant_given_claim
    assert pic is not None and (pic.k, pic.n, pic.value) == (2, 4, 0.5)
    assert m.conditions[B].skipped == 1 and m.conditions[B].run == 4
    assert (m.conditions[N].unparsed, m.conditions[N].answered) == (1, 4)
    assert m.conditions[R].unparsed == 0 and m.conditions[R].scored == 5


def test_negative_vrs_text_only_shortcut() -> None:
    # 20 items: 3 right under both, 6 right only with another patient's image, 11 wrong twice
    items = [make_item(f"a{i}", {R: "yes", S: "yes"}, correct=(1, 1, 0, 0)) for i in range(3)]
    items += [make_item(f"b{i}", {R: "no", S: "yes"}, correct=(0, 1, 0, 0)) for i in range(6)]
    items += [make_item(f"c{i}", {R: "no", S: "no"}, correct=(0, 0, 0, 0)) for i in range(11)]
    m = compute_metrics(items, n_boot=1000).overall
    assert m.vrs is not None
    assert m.vrs.value == pytest.approx(3 / 20 - 9 / 20)
    assert m.vrs.hi < 0  # P(a resample without any discordant item) = 0.7**20
    assert m.mcnemar is not None
    assert (m.mcnemar.b, m.mcnemar.c) == (0, 6)
    assert m.mcnemar.p_value == pytest.approx(2 * 0.5**6)
    assert m.blank_retention is None and m.multimodal_gain is None  # those never ran


def test_all_answers_invariant() -> None:
    items = [
        make_item(f"x{i}", {R: "no", S: "no", B: "no", N: "no"}, claim=i % 2 == 0) for i in range(6)
    ]
    m = compute_metrics(items, n_boot=100).overall
    assert m.image_sensitivity is not None
    assert (m.image_sensitivity.value, m.image_sensitivity.lo) == (0.0, 0.0)
    assert m.image_sensitivity.hi == pytest.approx(wilson_interval(0, 6)[1])
    assert m.is_blank is not None and m.is_blank.value == 0.0
    assert m.image_invariant_rate is not None and m.image_invariant_rate.value == 1.0
    # every claim is an hvr: HVRR equals the claim rate, P(inv | claim) = 1
    assert m.hvrr is not None and m.visual_claim_rate is not None
    assert (m.hvrr.k, m.hvrr.n) == (3, 6) == (m.visual_claim_rate.k, m.visual_claim_rate.n)
    assert m.p_invariant_given_claim is not None and m.p_invariant_given_claim.value == 1.0
    assert all(m.accuracy[c] is None for c in ORDER)  # no references
    assert m.vrs is None and m.mcnemar is None


def test_all_answers_flip() -> None:
    items = [make_item(f"f{i}", {R: "yes", S: "no", B: "no"}, claim=True) for i in range(4)]
    m = compute_metrics(items, n_boot=100).overall
    assert m.image_sensitivity is not None and m.image_sensitivity.value == 1.0
    assert m.image_sensitivity.hi == 1.0
    assert m.is_blank is not None and m.is_blank.value == 1.0
    assert m.flip_rate[N] is None  # never ran
    assert m.hvrr is not None and (m.hvrr.k, m.hvrr.n) == (0, 4)
    assert m.p_invariant_given_claim is not None and m.p_invariant_given_claim.value == 0.0
    assert m.conditions[N].run == 0


def test_unparsed_outputs_are_counted_not_dropped() -> None:
    items = [
        make_item("u1", {R: UNPARSED, S: UNPARSED}, correct=(0, 0, 0, 0)),
        make_item("u2", {R: UNPARSED, S: "yes"}, correct=(0, 1, 0, 0)),
        make_item("u3", {R: "yes", S: "yes"}, correct=(1, 1, 0, 0)),
    ]
    m = compute_metrics(items, n_boot=100).overall
    assert (m.conditions[R].unparsed, m.conditions[R].answered, m.conditions[R].run) == (2, 1, 3)
    assert m.conditions[S].unparsed == 1
    assert m.accuracy[R] is not None and (m.accuracy[R].k, m.accuracy[R].n) == (1, 3)
    # <unparsed> is its own answer class: u2 flips, u1 (both unparsed) does not
    assert m.image_sensitivity is not None and (m.image_sensitivity.k, m.image_sensitivity.n) == (
        1,
        3,
    )


def test_benchmark_with_one_item_and_no_reference() -> None:
    lone = make_item("solo", {R: "yes", S: "no"}, benchmark="tiny", claim=True)
    scored = make_item("s1", {R: "yes", S: "no", B: "yes"}, correct=(1, 0, 1, 0), benchmark="one")
    metrics = compute_metrics([lone, scored], n_boot=100)
    assert list(metrics.benchmarks) == ["one", "tiny"]
    tiny = metrics.benchmarks["tiny"]
    assert tiny.n_items == 1 and tiny.n_with_reference == 0
    assert all(tiny.accuracy[c] is None for c in ORDER)
    assert tiny.vrs is None and tiny.blank_retention is None and tiny.mcnemar is None
    assert tiny.image_sensitivity is not None and tiny.image_sensitivity.value == 1.0
    one = metrics.benchmarks["one"]
    # one pair: the paired interval keeps its width (a bootstrap collapsed to (1, 1, 1))
    assert one.vrs is not None and (one.vrs.value, one.vrs.hi, one.vrs.n) == (1.0, 1.0, 1)
    assert one.vrs.lo < 0.5
    assert one.vrs.first is not None and one.vrs.first.value == 1.0
    assert one.vrs.second is not None and one.vrs.second.value == 0.0
    assert one.blank_retention is not None and one.blank_retention.value == 1.0
    assert metrics.overall.n_items == 2 and metrics.overall.n_with_reference == 1
    assert metrics.overall.image_sensitivity is not None
    assert metrics.overall.image_sensitivity.k == 2


def test_blank_retention_none_when_real_accuracy_is_zero() -> None:
    items = [make_item(f"z{i}", {R: "no", B: "no"}, correct=(0, 0, 0, 0)) for i in range(3)]
    m = compute_metrics(items, n_boot=50).overall
    assert m.accuracy[R] is not None and m.accuracy[R].value == 0.0
    assert m.blank_retention is None


def test_delta_logp_summary_drops_non_finite() -> None:
    deltas = [1.0, 2.0, 3.0, 10.0, math.inf, math.nan]
    items = [
        make_item(f"d{i}", {R: "yes", S: "yes"}, delta={S: d}, text=False)
        for i, d in enumerate(deltas)
    ]
    m = compute_metrics(items, n_boot=50).overall
    summary = m.delta_logp[S]
    assert summary is not None
    assert (summary.n, summary.mean, summary.median) == (4, 4.0, 2.5)
    assert (summary.min, summary.max) == (1.0, 10.0)
    assert sum(summary.hist_counts) == 4
    assert len(summary.hist_edges) == len(summary.hist_counts) + 1
    assert m.delta_logp[B] is None
    # score mode (no generated text): no visual-claim rate, no HVRR
    assert m.visual_claim_rate is None and m.hvrr is None


def test_empty_input_and_json_round_trip() -> None:
    empty = compute_metrics([])
    assert empty.overall.n_items == 0 and empty.benchmarks == {}
    assert empty.overall.image_sensitivity is None
    metrics = compute_metrics(five_items(), n_boot=100, seed=7)
    again = AuditMetrics.model_validate_json(metrics.model_dump_json())
    assert again == metrics
    assert compute_metrics(five_items(), n_boot=100, seed=7) == metrics  # deterministic
    assert metrics.overall.benchmark == OVERALL


def test_paper_reference_table() -> None:
    found = {(f.metric, f.benchmark, f.model): f for f in PAPER_REFERENCE}
    assert found[("IS", OVERALL, "base")].value == 0.482
    assert found[("VRS", "PathVQA", "text-only RLVR")].value == -0.09
    hvrr = found[("HVRR", OVERALL, "all")]
    assert (hvrr.low, hvrr.high) == (0.38, 0.43)


# --- text stress tests (audits.science.textstress) ------------------------------------------------

OPTS = {"A": "pneumothorax", "B": "pleural effusion", "C": "normal"}


def test_stress_prompts_assert_the_wrong_option() -> None:
    base = option_question_prompt("What does the radiograph show?", OPTS)
    caption = wrong_caption_prompt("What does the radiograph show?", OPTS, "a")
    assert caption.endswith(base)
    assert "(A) pneumothorax" in caption.split("\n\n")[0]
    assert "B. pleural effusion" in base
    prefill = wrong_think_prefill(OPTS, "C")
    assert prefill.startswith("<think>") and "</think>" not in prefill
    assert "(C) normal" in prefill
    assert not wrong_think_prefill(OPTS, "C", open_tag=False).startswith("<think>")
    assert wrong_letter_for(OPTS, "B") == "C" and wrong_letter_for(OPTS, "C") == "A"
    with pytest.raises(ValueError, match="wrong_letter"):
        wrong_caption_prompt("q", OPTS, "E")


def test_stress_deltas_are_paired_and_skip_missing() -> None:
    base = [True, True, True, False, None]
    caption = [False, True, False, False, True]
    think = [False, False, False, True, None]
    result = stress_deltas(base, caption, think, n_boot=200)
    assert result.acc_base is not None and (result.acc_base.k, result.acc_base.n) == (3, 4)
    assert result.acc_wrong_caption is not None and result.acc_wrong_caption.n == 5
    # paired over the 4 items with both: 1/4 - 3/4 and 1/4 - 3/4
    assert result.wrong_caption_delta is not None
    assert (result.wrong_caption_delta.value, result.wrong_caption_delta.n) == (-0.5, 4)
    assert result.wrong_think_delta is not None and result.wrong_think_delta.value == -0.5
    only_base = stress_deltas(base)
    assert only_base.wrong_caption_delta is None and only_base.acc_wrong_think is None
    with pytest.raises(ValueError, match="lengths"):
        stress_deltas(base, [True])


def test_p_base_entropy_and_letter_summary() -> None:
    logps = {"a": math.log(0.3), "B": math.log(0.1), "C": math.log(0.1)}  # renormalized: .6 .2 .2
    assert p_base(logps, "A") == pytest.approx(0.6)
    assert p_base(logps, "c") == pytest.approx(0.2)
    assert letter_entropy(logps) == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.2)))
    with pytest.raises(ValueError):
        p_base(logps, "D")
    summary = letter_summary([(logps, "A"), (logps, "B")])
    assert summary is not None
    assert summary.mean_p_base == pytest.approx(0.4)
    assert summary.argmax_accuracy is not None and summary.argmax_accuracy.k == 1
    assert letter_summary([]) is None


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("<think>Blunted angle: pleural effusion, so (B).</think><answer>B</answer>", OPTS, True),
        ("<think>Collapsed lung. The answer is A.</think><answer>C</answer>", OPTS, False),
        ("<think>Collapsed lung, pneumothorax.</think><answer>A</answer>", OPTS, True),
        ("<think>The answer is a mass, so option B.</think><answer>B</answer>", OPTS, True),
        ("<think>There is no effusion. So, no.</think><answer>no</answer>", None, True),
        ("<think>Fluid is layering. So yes.</think><answer>no</answer>", None, False),
        ("<think>The heart is enlarged.</think><answer>yes</answer>", None, None),
        ("I cannot tell from this image at all, it is a long rambling output", None, None),
        # an open answer is not judged; a yes/no naming no option does not count
        ("<think>Is it normal? No.</think><answer>pneumonia</answer>", None, None),
        ("<think>Is it clear? No. Pneumothorax.</think><answer>A</answer>", OPTS, True),
        ("<think>Is it clear? No.</think><answer>A</answer>", OPTS, None),
    ],
)
def test_faithfulness(text: str, options: dict[str, str] | None, expected: bool | None) -> None:
    assert faithfulness(text, options) is expected


def test_faithfulness_rate_counts_only_judgeable_outputs() -> None:
    outputs = [
        "<think>So yes.</think><answer>yes</answer>",
        "<think>So yes.</think><answer>no</answer>",
        "<think>Nothing decisive here.</think><answer>no</answer>",
    ]
    rate = faithfulness_rate(outputs)
    assert rate is not None and (rate.k, rate.n) == (1, 2)


def test_sampled_accuracy_acc1_and_pass_at_k() -> None:
    samples = [[False, True, False, False], [False, False, False, False], [True, True, True, True]]
    result = sampled_accuracy(samples, k=2, greedy_correct=[False, False, True])
    assert result.acc_at_1 is not None and result.acc_at_1.k == 1
    assert result.pass_at_k is not None and (result.pass_at_k.k, result.pass_at_k.n) == (2, 3)
    # unbiased: item 1: 1 - C(3,2)/C(4,2) = 0.5, item 2: 0, item 3: 1
    assert result.pass_at_k_unbiased == pytest.approx(0.5)
    assert result.mean_sample_accuracy == pytest.approx((0.25 + 0 + 1) / 3)
    with pytest.raises(ValueError, match="fewer than"):
        sampled_accuracy(samples, k=5)
    assert is_correct("<answer>(B)</answer>", "pleural effusion", OPTS)
    assert not is_correct("no idea, really, it is a long story that goes nowhere", "B", OPTS)


def test_oracle_is_and_hvrr_where_the_answer_should_change() -> None:
    def item(i: int, real: str, shuffled: str, ref: str, other: str, claim: bool) -> ItemAudit:
        base = make_item(f"o{i}", {R: real, S: shuffled}, claim=claim)
        return base.model_copy(update={"reference": ref, "shuffled_reference": other})

    items = [
        # partner's reference differs: a grounded model should flip
        item(0, "yes", "no", "yes", "no", claim=True),  # flipped: not hvr
        item(1, "yes", "yes", "yes", "no", claim=True),  # invariant with a claim: hvr
        item(2, "no", "no", "no", "yes", claim=False),  # invariant, no claim
        # partner's reference is the same: no flip expected
        item(3, "yes", "yes", "yes", "yes", claim=True),  # hvr, but the answer should not change
    ]
    m = compute_metrics(items, n_boot=50).overall
    assert m.oracle_is is not None and (m.oracle_is.k, m.oracle_is.n) == (3, 4)
    assert m.image_sensitivity is not None and m.image_sensitivity.value == 0.25
    assert m.hvrr is not None and (m.hvrr.k, m.hvrr.n) == (2, 4)
    # restricted to items 0-2, whose shuffled image should change the answer
    assert m.hvrr_should_change is not None
    assert (m.hvrr_should_change.k, m.hvrr_should_change.n) == (1, 3)


def test_open_references_differ_by_token_f1_for_the_oracle() -> None:
    same = make_item("p", {R: "x", S: "x"}).model_copy(
        update={
            "question": "Where is the mass?",
            "reference": "pancreatic head",
            "shuffled_reference": "head of the pancreas",
        }
    )
    other = make_item("q", {R: "x", S: "x"}).model_copy(
        update={
            "question": "Where is the mass?",
            "reference": "left lower lobe",
            "shuffled_reference": "right lower lobe",
        }
    )
    m = compute_metrics([same, other], n_boot=50).overall
    assert m.oracle_is is not None and (m.oracle_is.k, m.oracle_is.n) == (1, 2)


def test_metrics_state_thresholds_and_methods() -> None:
    item = make_item("a", {R: "yes", S: "no", B: "yes", N: "yes"}, correct=(1, 0, 1, 1))
    metrics = compute_metrics([item], n_boot=50)
    assert set(metrics.thresholds) == {"open_recall", "open_flip_f1"}
    assert "Newcombe" in metrics.methods["differences"]
    assert "exact" in metrics.methods["mcnemar"]
    vrs = metrics.overall.vrs
    assert vrs is not None and vrs.first is not None and vrs.second is not None
    assert (vrs.first.value, vrs.second.value, vrs.n) == (1.0, 0.0, 1)
