"""The drift detector shared by replicas through Redis: the Lua CUSUM equals the pure
recursion, is case-mix aware, and its risk-adjusted counts show a real drop."""

from __future__ import annotations

import random
import threading

import pytest
import redis as redis_py
from prometheus_client import REGISTRY

from audits.contracts.audit_record import AuditRecord
from audits.science.drift.cusum import CusumState
from service.telemetry.drift.baseline import Baseline
from service.telemetry.redis_keys import baseline_key, cusum_key
from tests.support.servers import RedisServer
from tests.support.telemetry import (
    Target,
    calibrate_async,
    emit_slowly,
    make_reader,
    make_record,
    make_telemetry,
    stream_entries,
)


async def test_two_replicas_share_one_cusum_and_the_same_windows(
    target: Target, target_client: redis_py.Redis
) -> None:
    rng = random.Random(7)
    flips = [rng.random() < 0.45 for _ in range(200)] + [rng.random() < 0.1 for _ in range(300)]
    records = [make_record(i, flip) for i, flip in enumerate(flips)]
    records.insert(50, make_record(9999, None))  # an audit whose shuffled run was skipped
    replicas = [make_telemetry(target.url), make_telemetry(target.url)]
    threads = [
        threading.Thread(target=emit_slowly, args=(replica, records[i::2]))
        for i, replica in enumerate(replicas)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(replica.flush(20) for replica in replicas)

    in_order = [e["flip_shuffled"] for e in stream_entries(target_client)]
    known = [int(x) for x in in_order if x != ""]
    assert len(known) == 500
    baseline = Baseline.from_hash(target_client.hgetall(baseline_key("m")))
    assert baseline is not None and baseline.source == "auto" and baseline.n == 20
    assert baseline.rate == sum(known[:20]) / 20
    expected = baseline.detector().update_many(CusumState(), known[20:])
    stored = CusumState.from_hash(target_client.hgetall(cusum_key("m")))
    assert stored == expected, "the Lua CUSUM equals the pure recursion in stream order"
    assert stored.alarm, "a drop from 0.45 to 0.10 over 300 audits raises the alarm"

    views = [
        await make_reader().stats("m", redis=replica, records=[], queue_depth=0)
        for replica in replicas
    ]
    for view in views:
        del view["as_of"], view["redis"]
    assert views[0] == views[1]
    stats = views[0]
    assert stats["source"] == "redis"
    assert stats["counts"]["audits"] == 501 and stats["counts"]["conditions_run"]["blank"] == 501
    window = stats["windows"]["15m"]
    assert window["IS"]["n"] == 500 and window["IS"]["k"] == sum(known)
    assert window["IS"]["lo"] < window["IS"]["value"] < window["IS"]["hi"]
    assert window["claim_rate"]["n"] == 501
    assert stats["drift"]["status"] == "alarm" and stats["drift"]["n"] == 480
    assert stats["drift"]["statistic"] == expected.statistic
    assert REGISTRY.get_sample_value("grounding_is_drift_alarm", {"model": "m"}) == 1
    assert REGISTRY.get_sample_value("grounding_is_drift_statistic", {"model": "m"}) == (
        expected.statistic
    )

    reset = await calibrate_async(target.url, "--reset")
    assert reset["drift"]["alarm"] is False and reset["drift"]["n"] == 0
    assert reset["baseline"]["p0"] == baseline.p0, "a reset keeps the baseline"
    assert REGISTRY.get_sample_value("grounding_is_drift_alarm", {"model": "m"}) == 0
    for replica in replicas:
        replica.close()


RISK_ADJUSTED_COUNTERS = (
    "grounding_is_compared_audits_total",
    "grounding_is_compared_flips_total",
    "grounding_is_expected_flips_total",
    "grounding_is_expected_flips_variance_total",
)


def risk_adjusted_counts(model: str, modality: str) -> dict[str, float]:
    labels = {"model": model, "modality": modality}
    return {name: REGISTRY.get_sample_value(name, labels) or 0.0 for name in RISK_ADJUSTED_COUNTERS}


def stratified_traffic(
    model: str, rates_after: dict[tuple[str, str], float], seed: int
) -> list[AuditRecord]:
    """A warm-up of 120 audits, half closed CT questions (IS 0.7), half open MR ones (IS 0.1);
    then 400 audits of which 90% are open MR questions, flipping at ``rates_after``."""
    rng = random.Random(seed)
    rates = {("closed", "CT"): 0.7, ("open", "MR"): 0.1}
    warm = [("closed", "CT"), ("open", "MR")] * 60
    shifted = [("open", "MR") if rng.random() < 0.9 else ("closed", "CT") for _ in range(400)]
    records = []
    for index, (kind, modality) in enumerate(warm + shifted):
        rate = rates[(kind, modality)] if index < len(warm) else rates_after[(kind, modality)]
        records.append(
            make_record(index, rng.random() < rate, model=model).model_copy(
                update={"question_kind": kind, "modality": modality}
            )
        )
    return records


def observed_minus_expected(model: str, before: dict[str, dict[str, float]]) -> float:
    """z of the observed shuffled flips against the expected ones since ``before``."""
    delta = {
        name: sum(
            risk_adjusted_counts(model, modality)[name] - before[modality][name]
            for modality in ("CT", "MR")
        )
        for name in RISK_ADJUSTED_COUNTERS
    }
    observed = delta["grounding_is_compared_flips_total"]
    expected = delta["grounding_is_expected_flips_total"]
    return (observed - expected) / delta["grounding_is_expected_flips_variance_total"] ** 0.5


async def test_the_lua_cusum_is_case_mix_aware_and_equals_the_stratified_recursion(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """Warm-up per stratum, automatic freeze with per-stratum baselines, then traffic moves to
    open MR questions (low IS) with no change in the model: the shared CUSUM equals the
    stratified recursion in stream order and stays quiet, where the pooled one alarms; the
    exported observed and expected flips (the alerts' risk adjustment) agree."""
    records = stratified_traffic("m", {("closed", "CT"): 0.7, ("open", "MR"): 0.1}, seed=11)
    before = {modality: risk_adjusted_counts("m", modality) for modality in ("CT", "MR")}
    telemetry = make_telemetry(redis.url, min_audits=120)
    emit_slowly(telemetry, records)
    assert telemetry.flush(30)

    entries = stream_entries(client)
    strata = [f"{e['question_kind']}|{e['modality']}" for e in entries]
    flips = [int(e["flip_shuffled"]) for e in entries]
    baseline = Baseline.from_hash(client.hgetall(baseline_key("m")))
    assert baseline is not None and set(baseline.strata) == {"closed|CT", "open|MR"}
    detector = baseline.stratified()
    expected = CusumState()
    for stratum, flip in zip(strata[120:], flips[120:], strict=True):
        expected = detector.update(expected, stratum, flip)
    stored = CusumState.from_hash(client.hgetall(cusum_key("m")))
    assert stored == expected, "the Lua CUSUM equals the stratified recursion in stream order"
    assert not stored.alarm, "a change of case mix alone must not page anyone"
    pooled = Baseline.for_rate(baseline.rate, source="x").detector()
    assert pooled.update_many(CusumState(), flips[120:]).alarm, "the pooled CUSUM would have"

    for modality, stratum in (("CT", "closed|CT"), ("MR", "open|MR")):
        delta = {
            name: value - before[modality][name]
            for name, value in risk_adjusted_counts("m", modality).items()
        }
        compared = delta["grounding_is_compared_audits_total"]
        # every audit after the freeze, less the few queued while it happened
        assert 0 < compared <= strata[120:].count(stratum)
        p0 = baseline.strata[stratum].p0
        assert delta["grounding_is_expected_flips_total"] == pytest.approx(compared * p0)
        assert delta["grounding_is_expected_flips_variance_total"] == pytest.approx(
            compared * p0 * (1 - p0)
        )
    z = observed_minus_expected("m", before)
    print(f"\nmix change alone: observed - expected = {z:+.2f} sd")
    assert abs(z) < 3, "the observed flips match what the new case mix predicts"

    stats = await make_reader(120).stats("m", redis=telemetry, records=[], queue_depth=0)
    by_modality = stats["windows"]["15m"]["by_modality"]
    assert set(by_modality) == {"CT", "MR"}
    assert by_modality["MR"]["IS"]["value"] < by_modality["CT"]["IS"]["value"]
    assert by_modality["CT"]["IS"]["lo"] < by_modality["CT"]["IS"]["value"]
    telemetry.close()


async def test_a_real_drop_in_one_stratum_shows_as_fewer_flips_than_expected(
    redis: RedisServer, client: redis_py.Redis
) -> None:
    """The same mix change, and the model looks less at the image in both strata (CT 0.7 -> 0.2,
    MR 0.1 -> 0.03): the observed flips fall well below the expected ones, and the CUSUM alarms."""
    records = stratified_traffic("drop", {("closed", "CT"): 0.2, ("open", "MR"): 0.03}, seed=12)
    before = {modality: risk_adjusted_counts("drop", modality) for modality in ("CT", "MR")}
    telemetry = make_telemetry(redis.url, min_audits=120)
    emit_slowly(telemetry, records)
    assert telemetry.flush(30)
    telemetry.close()
    z = observed_minus_expected("drop", before)
    print(f"\nreal drop: observed - expected = {z:+.2f} sd")
    assert z < -1.96
    assert CusumState.from_hash(client.hgetall(cusum_key("drop"))).alarm
