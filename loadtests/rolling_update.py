"""A bad model update caught in the act (`grounding-audit demo-update`).

Two `bentoml serve` replicas share one redis-server under one model name and serve the grounded
reasoner; every request is audited. Once the drift monitor has frozen its baseline from that
traffic, a rolling update replaces the replicas one by one with the shortcut reasoner (same
fluent reasoning, answers that ignore the image): the new replicas start beside the old ones,
and one at a time (``step_pause_s`` apart) a new one takes an old one's traffic and its
Prometheus target and the old one stops. Traffic never stops. The shared CUSUM on the
shuffled-image flips crosses its threshold, ``grounding_is_drift_alarm`` goes to 1, and a real
Prometheus evaluating the project's own alert rules against both replicas fires
``GroundingISDriftAlarm``. The result counts the audits from the swap to each of those.

The rules are the project's files with two changes for a demo that lasts minutes, not hours:
evaluation every second, and the alert's ``for:`` shortened (``alert_for``).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import BaseModel

from loadtests.processes import PrometheusProcess, RedisProcess, ServeProcess, wait_until

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "rules"
ALERT = "GroundingISDriftAlarm"
RULES_MODEL = "grounding-vlm"
"""The model name the project's baseline rule is written for."""


@dataclass(frozen=True)
class TrafficItem:
    image_png: bytes
    question: str


class Milestone(BaseModel):
    """When the watcher (polling every 0.5 s) first saw a signal; every milestone is counted on
    the same clock, so their audit counts and seconds compare directly."""

    audits_since_swap: int
    """Audits the drift monitor had counted since the first new replica took traffic, when the
    watcher saw the signal."""
    seconds_since_swap: float
    crossed_at_audit: int | None = None
    """CUSUM only: the audit (counted from the swap) whose step crossed the threshold; the
    gauge and the alert follow it by up to one scrape or poll."""


class UpdateDemoResult(BaseModel):
    model: str
    replicas: int
    before_model: str
    after_model: str
    baseline_is: float
    """The frozen baseline flip rate, measured on the grounded reasoner's own traffic."""
    cusum_threshold: float
    audits_before_swap: int
    swap_seconds: float
    """From the first new replica taking traffic to the last old one stopped."""
    is_before: float | None
    is_after: float | None
    """IS of the audits from the swap to the end of the demo."""
    drift_alarm: Milestone | None
    gauge_alarm: Milestone | None
    """``grounding_is_drift_alarm`` = 1 on a replica's /metrics."""
    prometheus_alert: Milestone | None
    """Prometheus reports the alert firing."""
    alert_for: str
    requests_sent: int
    requests_failed: int
    """Requests refused or cut during the rolling update."""
    final_drift: dict[str, object]
    """The drift state of /stats when the demo ended."""
    observed_over_expected: float | None = None
    """Prometheus' case-mix-adjusted IS (observed / expected shuffled flips, 15m) at the end:
    what the IS drop and collapse alerts read."""


def demo_rules(target: Path, model: str, alert_for: str) -> Path:
    """The project's rule files for ``model``, evaluated every second, the alert's ``for:``
    shortened to ``alert_for``."""
    target.mkdir(parents=True, exist_ok=True)
    for path in RULES.glob("*.yml"):
        text = path.read_text().replace("interval: 1m", "interval: 1s")
        text = text.replace(f'"{RULES_MODEL}"', f'"{model}"')
        text = re.sub(
            rf"(- alert: {ALERT}\n(?:.*\n)*?\s+for: )\S+", rf"\g<1>{alert_for}", text, count=1
        )
        (target / path.name).write_text(text)
    return target


class Traffic:
    """Client threads sending audited /predict requests to whichever replicas answer."""

    def __init__(self, urls: Sequence[str], items: Sequence[TrafficItem], clients: int) -> None:
        self.urls = list(urls)
        """Replaced in place by a rolling update."""
        self.items = list(items)
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(index,), daemon=True)
            for index in range(clients)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _client(self, index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                item = rng.choice(self.items)
                if self._send(client, rng, item):
                    with self._lock:
                        self.sent += 1
                else:
                    with self._lock:
                        self.failed += 1
                    time.sleep(0.2)

    def _send(self, client: httpx.Client, rng: random.Random, item: TrafficItem) -> bool:
        url = rng.choice(self.urls)
        try:
            response = client.post(
                f"{url}/predict",
                files={"image": ("scan.png", item.image_png, "image/png")},
                data={"question": item.question, "audit": "true"},
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _stats(url: str) -> dict:
    return httpx.get(f"{url}/stats", timeout=10).json()


def _drift_n(url: str) -> int:
    return int(_stats(url)["drift"]["n"])


def _gauge_alarm(urls: Sequence[str]) -> bool:
    for url in urls:
        try:
            text = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if line.startswith("grounding_is_drift_alarm{") and float(line.split()[-1]) >= 1:
                return True
    return False


def run_update_demo(
    before_model: Path,
    after_model: Path,
    workdir: Path,
    *,
    traffic: Sequence[TrafficItem],
    model: str = "radiology-vlm",
    replicas: int = 2,
    clients: int = 3,
    baseline_audits: int = 100,
    alert_for: str = "5s",
    step_pause_s: float = 5.0,
    timeout_s: float = 600,
    progress: bool = True,
) -> UpdateDemoResult:
    def say(message: str) -> None:
        if progress:
            print(f"[demo-update] {message}", flush=True)

    redis = RedisProcess(workdir / "redis")
    env = {
        "GROUNDING_MODEL_NAME": model,
        "GROUNDING_REDIS_URL": redis.url,
        "GROUNDING_SAMPLE_RATE": "1",
        "GROUNDING_AUDIT_MODE": "generate",
        "GROUNDING_AUDIT_CONDITIONS": "shuffled",
        "GROUNDING_DRIFT_MIN_AUDITS": str(baseline_audits),
    }
    servers = [
        ServeProcess({**env, "GROUNDING_MODEL_PATH": str(before_model)}, workdir / "serve")
        for _ in range(replicas)
    ]
    # the new version's replicas start beside the old ones and wait, ready, for the update
    updated = [
        ServeProcess({**env, "GROUNDING_MODEL_PATH": str(after_model)}, workdir / "serve")
        for _ in range(replicas)
    ]
    prometheus: PrometheusProcess | None = None
    try:
        for server in [*servers, *updated]:
            server.wait_ready()
        urls = [server.url for server in servers]
        say(f"{replicas} replicas of {before_model.name} as {model!r}: {', '.join(urls)}")
        rules = demo_rules(workdir / "rules", model, alert_for)
        prometheus = PrometheusProcess(workdir / "prometheus", _targets(servers), rules)
        prometheus.wait_ready()
        say(f"prometheus with the project's rules at {prometheus.url}")
        deadline = time.monotonic() + timeout_s
        with Traffic(urls, traffic, clients) as load:
            frozen = wait_until(
                lambda: _stats(urls[0])["baseline"] is not None, deadline - time.monotonic(), 1
            )
            if not frozen:
                raise RuntimeError(f"no baseline after {timeout_s:.0f} s: {_stats(urls[0])}")
            stats = _stats(urls[0])
            baseline = stats["baseline"]
            say(f"baseline frozen: IS {baseline['rate']:.3f} over {baseline['n']} audits")
            at_swap_stats = _stats(load.urls[0])
            at_swap = _longest_window_is(at_swap_stats)
            audits_before = int(at_swap_stats["counts"]["audits"])
            watcher = _Watcher(load, prometheus, _drift_n(load.urls[0]), say)
            for index, new in enumerate(updated):
                old, servers[index] = servers[index], new
                load.urls[index] = new.url
                prometheus.set_targets(_targets(servers))
                say(f"replica {index + 1}/{replicas} now serves {after_model.name}")
                old.stop()
                if index + 1 < replicas:
                    time.sleep(step_pause_s)
            swap_seconds = time.monotonic() - watcher.started
            watcher.done.wait(max(1.0, deadline - time.monotonic()))
            watcher.stop.set()
            final = _stats(load.urls[0])
            flips_end, runs_end = _longest_window_is(final)
            adjusted = prometheus.query_value(
                f'model:grounding_is_flips_observed_over_expected:ratio_rate15m{{model="{model}"}}'
            )
        return UpdateDemoResult(
            model=model,
            replicas=replicas,
            before_model=before_model.name,
            after_model=after_model.name,
            baseline_is=float(baseline["rate"]),
            cusum_threshold=float(baseline["h"]),
            audits_before_swap=audits_before,
            swap_seconds=round(swap_seconds, 1),
            is_before=_ratio(*at_swap),
            is_after=_ratio(flips_end - at_swap[0], runs_end - at_swap[1]),
            drift_alarm=watcher.milestones["drift"],
            gauge_alarm=watcher.milestones["gauge"],
            prometheus_alert=watcher.milestones["prometheus"],
            alert_for=alert_for,
            requests_sent=load.sent,
            requests_failed=load.failed,
            final_drift=final["drift"],
            observed_over_expected=adjusted,
        )
    finally:
        if prometheus is not None:
            prometheus.stop()
        for server in [*servers, *updated]:
            server.stop()
        redis.stop()


class _Watcher:
    """From the swap on, polls twice a second for the CUSUM alarm (/stats), the alarm gauge
    (/metrics of the replicas) and the firing alert (Prometheus)."""

    def __init__(
        self,
        load: Traffic,
        prometheus: PrometheusProcess,
        swap_n: int,
        say: Callable[[str], None],
    ) -> None:
        self.load, self.prometheus, self.swap_n, self.say = load, prometheus, swap_n, say
        self.started = time.monotonic()
        self.milestones: dict[str, Milestone | None] = dict.fromkeys(
            ("drift", "gauge", "prometheus")
        )
        self.done = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set() and not self.done.is_set():
            with contextlib.suppress(httpx.HTTPError):  # a replica going away mid-update
                self._poll()
            self.stop.wait(0.5)

    def _poll(self) -> None:
        urls = list(self.load.urls)
        drift = _stats(urls[0])["drift"]
        since = time.monotonic() - self.started
        audits = int(drift["n"]) - self.swap_n
        if self.milestones["drift"] is None and drift["alarm"]:
            crossed = int(drift["alarm_at"] or drift["n"]) - self.swap_n
            self.milestones["drift"] = Milestone(
                audits_since_swap=audits, seconds_since_swap=since, crossed_at_audit=crossed
            )
            self.say(
                f"CUSUM alarm: crossed at audit {crossed} since the swap, seen at {audits} "
                f"audits ({since:.1f} s)"
            )
        # each later milestone is counted after it is seen: the CUSUM may cross between the
        # /stats read above and the look at /metrics or Prometheus
        if self.milestones["gauge"] is None and _gauge_alarm(urls):
            seen, since = _drift_n(urls[0]) - self.swap_n, time.monotonic() - self.started
            self.milestones["gauge"] = Milestone(audits_since_swap=seen, seconds_since_swap=since)
            self.say(f"grounding_is_drift_alarm = 1 on /metrics at {seen} audits ({since:.1f} s)")
        if self.milestones["prometheus"] is None and (
            self.prometheus.alert_states().get(ALERT) == "firing"
        ):
            seen, since = _drift_n(urls[0]) - self.swap_n, time.monotonic() - self.started
            self.milestones["prometheus"] = Milestone(
                audits_since_swap=seen, seconds_since_swap=since
            )
            self.say(f"prometheus: {ALERT} firing after {seen} audits since the swap")
        if all(value is not None for value in self.milestones.values()):
            self.done.set()


def _targets(servers: Sequence[ServeProcess]) -> list[str]:
    return [f"127.0.0.1:{server.port}" for server in servers]


def _longest_window_is(stats: dict) -> tuple[int, int]:
    """(flips, shuffled runs) in the longest /stats window, which spans the whole demo."""
    window = max(stats["windows"].values(), key=lambda figures: figures["window_s"])
    return int(window["IS"]["k"]), int(window["IS"]["n"])


def _ratio(k: int, n: int) -> float | None:
    return k / n if n > 0 else None


def phantom_traffic(manifest: Path, limit: int = 200) -> list[TrafficItem]:
    from audits.data.manifest import read_manifest

    return [
        TrafficItem(Path(item.image).read_bytes(), item.question)
        for item in read_manifest(manifest)[:limit]
    ]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-update"), help="work folder")
    parser.add_argument("--cache-dir", type=Path, help="default: $GROUNDING_CACHE_DIR")
    parser.add_argument(
        "--replicas", type=int, default=2, help="service replicas before and after the update"
    )
    parser.add_argument(
        "--clients", type=int, default=3, help="concurrent clients sending phantom traffic"
    )
    parser.add_argument(
        "--baseline-audits",
        type=int,
        default=100,
        help="audits of the grounded reasoner that freeze the IS baseline before the update",
    )
    parser.add_argument("--alert-for", default="5s", help="the alert's `for:` in the demo rules")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before the demo gives up (exit 1)"
    )


def run(args: argparse.Namespace) -> int:
    from reference_models.phantom_data import ensure_phantom_data
    from service.reference.prepare import ensure_reference_model
    from service.settings import Settings

    cache_dir = args.cache_dir or Settings().model.cache_dir
    print(
        "[demo-update] the update replaces the grounded reasoner with the shortcut reasoner "
        "(same reasoning, answers that ignore the image); both ship with the repository",
        flush=True,
    )
    before = ensure_reference_model("grounded_reasoner", cache_dir)
    after = ensure_reference_model("shortcut_reasoner", cache_dir)
    traffic = phantom_traffic(ensure_phantom_data(cache_dir).heldout)
    result = run_update_demo(
        before,
        after,
        args.out.resolve(),
        traffic=traffic,
        replicas=args.replicas,
        clients=args.clients,
        baseline_audits=args.baseline_audits,
        alert_for=args.alert_for,
        timeout_s=args.timeout,
    )
    print(result.model_dump_json(indent=2))
    caught = result.drift_alarm is not None and result.prometheus_alert is not None
    return 0 if caught else 1
