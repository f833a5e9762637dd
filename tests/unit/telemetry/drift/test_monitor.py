"""The drift step of a record: its keys and arguments, and the warm-up's strata."""

from __future__ import annotations

from audits.contracts.types import Condition
from service.telemetry.drift.monitor import DriftMonitor, warmup_strata
from tests.support.telemetry import audit_record


def test_update_plan_lines_keys_up_with_arguments() -> None:
    monitor = DriftMonitor(min_audits=50)
    rec = audit_record(flips={Condition.SHUFFLED: False}, hvr=True, claims=1)
    keys, args = monitor.update_plan(rec)
    assert keys == [
        "{grounding}:drift:m:baseline",
        "{grounding}:drift:m:cusum",
        "{grounding}:drift:m:warmup",
        "{grounding}:drift:m:pending",
    ]
    assert args == ["50", "0", "unknown|unknown"]
    ct = rec.model_copy(update={"modality": "CT", "question_kind": "closed"})
    assert monitor.update_plan(ct)[1] == ["50", "0", "closed|CT"]
    unknown = audit_record(flips={Condition.BLANK: True})
    assert monitor.update_plan(unknown)[1][1] == "", "no shuffled flip: the CUSUM skips it"


def test_warmup_strata_reads_audits_and_flips_per_stratum() -> None:
    fields = {"n": "5", "k": "2", "n:closed|CT": "3", "k:closed|CT": "2", "n:open|MR": "2"}
    fields |= {"n:mc|XA": "0"}
    assert warmup_strata(fields) == {"closed|CT": (3, 2), "open|MR": (2, 0)}
