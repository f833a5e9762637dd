"""The audit ledger: every mirrored audit ends recorded or dropped.

A process that dies cannot report the audits it took with it, so the ledger lives in Redis:
how many audits were mirrored and how many dropped (and records lost from the sink's buffer,
``overflowed``) are added with ``HINCRBY`` to ``{grounding}:drift:<model>:counts`` beside the
``audits`` total the record script keeps, and ``/stats`` shows audits mirrored but neither
recorded nor dropped (queued now, or lost with a killed worker).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel


class AuditLedger(BaseModel):
    """Every mirrored audit ends recorded or dropped; what a process that died could not
    report shows as ``unaccounted`` (from Redis, so it survives the process)."""

    mirrored: int
    recorded: int
    dropped: int
    """Given up and counted: queue full, errors, shutdown, records lost from a sink buffer."""
    unaccounted: int
    """mirrored - recorded - dropped: audits queued or running now on some replica, plus audits
    lost with a process that was killed. A value that stays above 0 once traffic has stopped
    and the queues are empty is a loss."""


def audit_ledger(totals: Mapping[str, int]) -> AuditLedger:
    mirrored, recorded = totals.get("mirrored", 0), totals.get("audits", 0)
    dropped = totals.get("dropped", 0) + totals.get("overflowed", 0)
    return AuditLedger(
        mirrored=mirrored,
        recorded=recorded,
        dropped=dropped,
        unaccounted=mirrored - recorded - dropped,
    )
