"""One Prometheus multiprocess folder per service instance.

``bentoml serve`` points every worker's ``PROMETHEUS_MULTIPROC_DIR`` at
``$BENTOML_HOME/prometheus_multiproc_dir`` and empties that folder when it starts
(``bentoml.serving.ensure_prometheus_dir``, called by ``_bentoml_impl.server.serve_http``). Two
instances on one host (blue/green, a second replica) share it, so the second start deleted the
first one's metric files and its counters read 0 for the rest of its life.

Here each instance writes to a folder of its own, ``<that folder>.instances/<pid of the
bentoml serve process>``, outside the one BentoML empties: the serve process creates (and
empties) only its own folder before the workers start and removes it when it exits; each worker
(a child of that process) switches ``PROMETHEUS_MULTIPROC_DIR`` to it before any metric value
is created, so its writes and its ``/metrics`` both use it, and a restarted worker finds the
counters of the one it replaces.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def instance_dir(shared: str | Path, serve_pid: int) -> Path:
    """The folder of the instance whose ``bentoml serve`` process is ``serve_pid``."""
    shared = Path(shared)
    return shared.with_name(f"{shared.name}.instances") / str(serve_pid)


def _in_bentoml_worker() -> bool:
    """Whether this process is a BentoML HTTP worker (it knows its worker index)."""
    context = sys.modules.get("bentoml._internal.context")
    server_context = getattr(context, "server_context", None)
    return getattr(server_context, "worker_index", None) is not None


def use_instance_dir() -> Path | None:
    """In a BentoML worker, write and read metrics in its instance's folder; elsewhere (tests,
    the command line) nothing changes. Call before any metric value is created."""
    shared = os.environ.get(ENV)
    if not shared or not _in_bentoml_worker():
        return None
    if Path(shared).parent.name.endswith(".instances"):
        return Path(shared)  # already switched (the module was imported again)
    own = instance_dir(shared, os.getppid())
    own.mkdir(parents=True, exist_ok=True)  # the serve process made it; this is a fallback
    os.environ[ENV] = str(own)
    return own


def prepare_instance_dir(shared: str | Path) -> Path:
    """In the ``bentoml serve`` process, before its workers start: an empty folder of its own
    (files of an earlier process with the same pid are stale), removed again at exit."""
    own = instance_dir(shared, os.getpid())
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True)
    atexit.register(shutil.rmtree, own, ignore_errors=True)
    return own


def bentoml_shared_dir() -> str:
    """The folder BentoML gives every instance (``$BENTOML_HOME/prometheus_multiproc_dir``)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.prometheus_multiproc_dir.get())
