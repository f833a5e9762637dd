"""The Lua scripts the service runs on Redis, kept as ``.lua`` files beside this module.

Each write is one script, so a record, its drift counters and the CUSUM step land atomically.
``cusum.lua`` defines ``cusum_step``, ``drift_update.lua`` defines ``drift_update`` (it uses
``cusum_step``); the entry scripts are composed from those definitions plus their own body.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

PENDING_MAX = 100_000
"""Flips kept between a full warm-up and the baseline freeze (normally one write batch)."""


@cache
def _lua(name: str) -> str:
    return resources.files("service.telemetry").joinpath("lua", f"{name}.lua").read_text("utf-8")


def drift_lua() -> str:
    """The CUSUM step and the drift update, as functions for an entry script."""
    return _lua("cusum") + _lua("drift_update").replace("PENDING_MAX", str(PENDING_MAX))


def write_record_lua() -> str:
    """KEYS: stream, record hash, drift keys; writes the record and updates drift state."""
    return drift_lua() + _lua("write_record")


def freeze_baseline_lua() -> str:
    """KEYS: baseline, cusum, pending; sets the baseline once and replays pending flips."""
    return _lua("cusum") + _lua("freeze_baseline")


def set_baseline_lua() -> str:
    """KEYS: baseline, cusum, warmup, pending; replaces the baseline, restarts the CUSUM."""
    return _lua("set_baseline")


def feedback_lua() -> str:
    """KEYS: record hash, feedback counters; attaches a reference answer's correctness."""
    return _lua("feedback")
