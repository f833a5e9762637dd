"""Cache folders built once: in a temporary folder renamed into place when complete, under a
file lock, so concurrent processes (service workers, test sessions) build a folder once and never
see a half-written one."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def build_once(
    target: Path, build: Callable[[Path], object], *, ready: Callable[[Path], bool]
) -> Path:
    """Run build(tmp) and rename tmp to target, unless target is ready; at most one builder."""
    if ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / f".{target.name}.lock"):
        if ready(target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
            if target.exists():  # left over without its ready marker: never completed
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
