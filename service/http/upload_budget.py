"""Memory for request bodies still arriving: counted in bytes that have actually arrived, in
total and per client address.

A body is buffered whole before its request takes an in-flight slot (``service.http.limits``),
so what uploads cost while they arrive is memory, and memory is what this budget bounds. A slow
uploader holds only the bytes it has sent, so any number of them leave room for normal clients
(the connection count is bounded by the header and body deadlines instead). One client address
may hold at most its share, so one client cannot spend the whole budget with bodies it sends
almost whole and then stalls; behind a reverse proxy every client has the proxy's address, so
there the share should equal the total.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class UploadBudgetSpent(Exception):
    """The bytes just arrived do not fit the budget (``per_client`` says which one)."""

    def __init__(self, per_client: bool) -> None:
        super().__init__("per-client upload budget" if per_client else "upload budget")
        self.per_client = per_client


class UploadBudget:
    def __init__(self, total_bytes: int, per_client_bytes: int | None = None) -> None:
        if total_bytes < 1:
            raise ValueError("the upload budget needs at least one byte")
        self.total_bytes = total_bytes
        self.per_client_bytes = min(per_client_bytes or total_bytes, total_bytes)
        self._held = 0
        self._by_client: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    def held_by(self, client: str) -> int:
        with self._lock:
            return self._by_client.get(client, 0)

    def charge(self, client: str, size: int) -> None:
        """Count ``size`` more bytes arrived for ``client``; raises ``UploadBudgetSpent`` (and
        counts nothing) when they do not fit."""
        with self._lock:
            if self._by_client.get(client, 0) + size > self.per_client_bytes:
                raise UploadBudgetSpent(per_client=True)
            if self._held + size > self.total_bytes:
                raise UploadBudgetSpent(per_client=False)
            self._held += size
            self._by_client[client] += size

    def release(self, client: str, size: int) -> None:
        """The body of ``size`` bytes left the budget (read whole, refused or abandoned)."""
        if size <= 0:
            return
        with self._lock:
            self._held -= size
            left = self._by_client.get(client, 0) - size
            if left > 0:
                self._by_client[client] = left
            else:
                self._by_client.pop(client, None)
