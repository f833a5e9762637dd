"""The one script per record: its keys and arguments, and the Lua it is composed of."""

from __future__ import annotations

from audits.contracts.types import Condition
from service.telemetry.drift.monitor import DriftMonitor
from service.telemetry.drift.scripts import PENDING_MAX
from service.telemetry.record_script import RecordScript, write_record_lua
from service.telemetry.rolling_counts import RollingCounts
from tests.support.telemetry import audit_record


def test_inputs_are_the_record_then_its_counters_then_its_drift_step() -> None:
    counts = RollingCounts([900])
    drift = DriftMonitor(min_audits=20)
    script = RecordScript(counts=counts, drift=drift, stream_maxlen=500, record_ttl_s=60)
    rec = audit_record("req-1", flips={Condition.SHUFFLED: True}, ts=120.0)
    keys, args = script.inputs(rec)
    count_keys, count_args = counts.update_plan(rec)
    drift_keys, drift_args = drift.update_plan(rec)
    assert keys == [
        "{grounding}:audits",
        "{grounding}:audit:req-1",
        "{grounding}:audit:req-1:ids",
        *count_keys,
        *drift_keys,
    ]
    fields = rec.to_redis_fields()
    assert args[:4] == ["500", "60", rec.audit_id, str(len(fields))]
    pairs = args[4 : 4 + 2 * len(fields)]
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == fields
    rest = args[4 + 2 * len(fields) :]
    assert rest == [str(len(count_keys)), str(len(count_args)), *count_args, *drift_args]


def test_the_script_defines_its_functions_before_it_calls_them() -> None:
    lua = write_record_lua()
    body = lua.index("redis.call('SADD', KEYS[3]")
    for name in ("count_record", "cusum_step", "drift_update"):
        assert lua.index(f"local function {name}(") < body
    assert "PENDING_MAX" not in lua and f"-{PENDING_MAX}" in lua
