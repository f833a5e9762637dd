"""Slow clients against a real `bentoml serve`: late headers and late bodies get 408, and while
more slow uploaders than in-flight slots trickle their bodies, normal clients are answered."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.images import png_bytes
from tests.support.servers import ServedService, start_service

LIMIT = 2
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 4


@pytest.fixture(scope="module")
def strict_service(
    demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedService]:
    served = start_service(
        {
            "GROUNDING_MODEL_PATH": str(demo_model_dir),
            "GROUNDING_MAX_NEW_TOKENS": "4",
            "GROUNDING_SAMPLE_RATE": "0",
            "GROUNDING_REDIS_URL": "",
            "GROUNDING_MAX_CONCURRENCY": str(LIMIT),
            "GROUNDING_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "GROUNDING_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        },
        tmp_path_factory.mktemp("serve-deadlines") / "bentoml.log",
    )
    yield served
    served.stop()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def status_line(sock: socket.socket) -> str:
    return sock.recv(4096).split(b"\r\n", 1)[0].decode()


def test_headers_that_do_not_arrive_in_time_get_408(strict_service: ServedService) -> None:
    silent, partial = connect(strict_service.url), connect(strict_service.url)
    partial.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    started = time.monotonic()
    assert status_line(partial) == "HTTP/1.1 408 Request Timeout"
    assert status_line(silent) == "HTTP/1.1 408 Request Timeout"
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 5
    with httpx.Client(base_url=strict_service.url, timeout=30) as client:
        assert client.get("/livez").status_code == 200  # keep-alive requests still work
        assert client.get("/livez").status_code == 200


def start_slow_uploads(url: str, count: int) -> tuple[list[socket.socket], threading.Event]:
    """``count`` /predict uploads whose bodies trickle one byte every 0.3 s until the event is
    set (or their connection is closed)."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    slow = []
    for _ in range(count):
        sock = connect(url)
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
            + head
        )
        slow.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.3):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x")

    threading.Thread(target=trickle, daemon=True).start()
    return slow, stop


def test_slow_uploads_get_408_while_normal_clients_are_answered(
    strict_service: ServedService,
) -> None:
    slow, stop = start_slow_uploads(strict_service.url, 2 * LIMIT)
    started = time.monotonic()
    image = png_bytes(1, (32, 32))
    answered = []
    with httpx.Client(base_url=strict_service.url, timeout=30) as client:
        while time.monotonic() - started < BODY_TIMEOUT_S - 1:
            response = client.post(
                "/predict", files={"image": ("a.png", image)}, data={"question": "Is it round?"}
            )
            answered.append(response.status_code)
    statuses = [status_line(sock) for sock in slow]
    stop.set()
    assert answered and set(answered) == {200}, answered
    assert statuses == ["HTTP/1.1 408 Request Timeout"] * len(slow)
    assert time.monotonic() - started < BODY_TIMEOUT_S + 10
