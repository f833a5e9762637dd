"""Two `bentoml serve` instances on one host, with one BENTOML_HOME (blue/green, a second
replica): each keeps its own counters after the other starts (issue 28: the second start
emptied the shared $BENTOML_HOME/prometheus_multiproc_dir and the first read 0 from then on).

Both bind loopback with the development key and HMAC secret, which is allowed there.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.integration.test_multiworker_metrics import _metric
from tests.support.images import png_bytes
from tests.support.servers import ServedService

QUESTION = {"question": "Is there a lesion?"}


class SharedHomeService(ServedService):
    """`bentoml serve` as the tests run it, but with a BENTOML_HOME given by the test (the
    launcher gives every server its own)."""

    def __init__(self, env: Mapping[str, str], workdir: Path, home: Path) -> None:
        self.home = home
        super().__init__(env, workdir)

    def start(self) -> None:
        self._popen["env"]["BENTOML_HOME"] = str(self.home)  # type: ignore[index]
        super().start()


def _requests(service: ServedService, model: str) -> float:
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    return _metric(text, "grounding_requests_total", f'model="{model}"')


def _predict(service: ServedService, times: int) -> None:
    with httpx.Client(timeout=60) as client:
        for seed in range(times):
            image = {"image": ("s.png", png_bytes(seed, (32, 32)))}
            response = client.post(f"{service.url}/predict", files=image, data=QUESTION)
            assert response.status_code == 200, response.text


def test_a_second_instance_on_the_host_leaves_the_first_ones_counters(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "bentoml-home"
    env = {
        "GROUNDING_MODEL_PATH": str(demo_model_dir),
        "GROUNDING_MAX_NEW_TOKENS": "4",
        "GROUNDING_SAMPLE_RATE": "0",
        "GROUNDING_REDIS_URL": "",
    }
    blue = SharedHomeService({**env, "GROUNDING_MODEL_NAME": "blue"}, tmp_path / "blue", home)
    green: SharedHomeService | None = None
    try:
        blue.wait_ready()
        _predict(blue, 3)
        assert _requests(blue, "blue") == 3
        green = SharedHomeService({**env, "GROUNDING_MODEL_NAME": "green"}, tmp_path / "g", home)
        green.wait_ready()
        assert _requests(blue, "blue") == 3, "starting a second instance reset the first's"
        _predict(green, 2)
        _predict(blue, 1)
        assert (_requests(blue, "blue"), _requests(green, "green")) == (4, 2)
        assert _requests(blue, "green") == 0 and _requests(green, "blue") == 0
        folders = sorted(p.name for p in (home / "prometheus_multiproc_dir.instances").iterdir())
        assert folders == sorted([str(blue.process.pid), str(green.process.pid)])
        green.stop()
        green = None
        assert _requests(blue, "blue") == 4
        remaining = [p.name for p in (home / "prometheus_multiproc_dir.instances").iterdir()]
        assert remaining == [str(blue.process.pid)], "an instance removes only its own folder"
    finally:
        if green is not None:
            green.stop()
        blue.stop()
