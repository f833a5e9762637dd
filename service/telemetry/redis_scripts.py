"""The Lua scripts the service runs on Redis, kept as ``.lua`` files in a ``lua/`` folder beside
the module that runs them: here the record write (``write_record``, composed in
``service.telemetry.record_script``), its counters (``count_record``) and feedback; the drift
detector's scripts in ``service/telemetry/drift/lua/`` (``service.telemetry.drift.scripts``).

Each write is one script, so a record, its counters and its drift step land atomically: a file
that defines a function (``count_record.lua`` defines ``count_record``) is prepended to the
entry script that calls it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def lua_source(package: str, name: str) -> str:
    """``<package>/lua/<name>.lua``."""
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text("utf-8")


def feedback_lua() -> str:
    """KEYS: record hash, feedback counters; attaches a reference answer's correctness."""
    return lua_source("service.telemetry", "feedback")
