"""A real HTTP reverse proxy that records every request body it forwards (to check what an
upstream server receives)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class RecordingProxy:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    fail_status: int | None = None
    """When set, chat requests are answered with this status instead of being forwarded."""

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in list(self.requests) if r.path.endswith("/chat/completions")]


@contextmanager
def recording_proxy(target: str) -> Iterator[RecordingProxy]:
    upstream = httpx.Client(base_url=target, timeout=120)
    lock = threading.Lock()
    proxy = RecordingProxy(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            with lock:
                proxy.requests.append(Recorded(self.command, self.path, body))
            if proxy.fail_status is not None and self.path.endswith("/chat/completions"):
                failure = json.dumps({"error": {"message": "upstream broke"}}).encode()
                self.send_response(proxy.fail_status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(failure)))
                self.end_headers()
                self.wfile.write(failure)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            answer = upstream.request(self.command, self.path, content=raw, headers=headers)
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = _forward
        do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()
