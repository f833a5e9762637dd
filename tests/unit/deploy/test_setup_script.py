"""scripts/setup.sh stops only the daemons its own apt install started, never a user's own."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_setup_never_kills_processes_by_name() -> None:
    script = (REPO / "scripts" / "setup.sh").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in script.splitlines())
    assert not re.search(r"\b(pkill|killall)\b", code)
    kills = [line.strip() for line in code.splitlines() if re.search(r"\bkill\b", line)]
    assert kills, "setup.sh stops the daemons apt started"
    assert "running_before=" in code  # the PIDs that ran before the install are spared
    assert 'case "$running_before" in *" $pid "*) ;;' in code
