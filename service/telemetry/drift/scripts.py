"""The drift detector's Lua scripts (``lua/`` beside this module).

``cusum.lua`` defines ``cusum_step`` (one step of the stratified CUSUM,
``audits.science.drift.stratified.StratifiedDesign.update``), ``drift_update.lua`` defines
``drift_update`` (warm-up, pending flips or a CUSUM step; the record script calls it); the
baseline scripts are entry scripts of their own.
"""

from __future__ import annotations

from service.telemetry.redis_scripts import lua_source

PENDING_MAX = 100_000
"""Flips kept between a full warm-up and the baseline freeze (normally one write batch)."""


def _lua(name: str) -> str:
    return lua_source("service.telemetry.drift", name)


def drift_update_lua() -> str:
    """The CUSUM step and the drift update, as functions for an entry script."""
    return _lua("cusum") + _lua("drift_update").replace("PENDING_MAX", str(PENDING_MAX))


def freeze_baseline_lua() -> str:
    """KEYS: baseline, cusum, pending; sets the baseline once and replays pending flips."""
    return _lua("cusum") + _lua("freeze_baseline")


def set_baseline_lua() -> str:
    """KEYS: baseline, cusum, warmup, pending; replaces the baseline, restarts the CUSUM."""
    return _lua("set_baseline")
