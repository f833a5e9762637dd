"""The audit ledger: the figure of /stats, and the counts that wait for Redis."""

from __future__ import annotations

from typing import Any, cast

from service.telemetry.ledger import AuditLedger, LedgerCounts, audit_ledger
from tests.unit.telemetry.fakes import FakeLoop


def test_unaccounted_is_mirrored_less_recorded_and_dropped() -> None:
    totals = {"mirrored": 20, "audits": 12, "dropped": 3, "overflowed": 2}
    assert audit_ledger(totals) == AuditLedger(mirrored=20, recorded=12, dropped=5, unaccounted=3)
    assert audit_ledger({}) == AuditLedger(mirrored=0, recorded=0, dropped=0, unaccounted=0)


def test_counts_wait_go_in_flight_and_come_back_when_redis_is_away() -> None:
    loop = FakeLoop()
    ledger = LedgerCounts(cast(Any, loop))
    assert loop.outboxes == [ledger] and ledger.idle() and ledger.take() == 0
    ledger.count("m", "mirrored", 3)
    ledger.count("m", "mirrored")
    ledger.count("m", "dropped")
    assert loop.wakes == 3 and not ledger.idle()
    assert ledger.take() == 2, "one count per model and field"
    ledger.count("m", "mirrored")  # arrives while the batch is in flight
    ledger.restore()
    assert ledger.take() == 2
    ledger.done()
    assert ledger.idle()
