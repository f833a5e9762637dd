"""The same audited traffic sent to `bentoml serve` of each reference reasoner: /stats tells
the grounded reasoner from the shortcut one (same fluent visual reasoning, answers that ignore
the image) and from the blind one, and /audit shows the claim spans and the modality-skeptic
flag on a wrong-modality question."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from audits.data.manifest import ManifestItem, read_manifest
from audits.data.phantom import SIDE_QUESTION, make_phantom, read_cases
from audits.data.phantom_reasoning import SKEPTIC_QUESTIONS
from tests.support.servers import RedisServer, start_service

pytestmark = pytest.mark.slow

N_ITEMS = 24
API_KEY = "reasoner-key"


def _serve_and_audit(
    model_dir: Path,
    name: str,
    items: list[ManifestItem],
    skeptic: tuple[Path, str],
    redis: RedisServer,
    log: Path,
) -> tuple[dict, dict, str]:
    """(/stats after every request was audited, /audit report of the skeptic question,
    /metrics)."""
    service = start_service(
        {
            "GROUNDING_MODEL_PATH": str(model_dir),
            "GROUNDING_MODEL_NAME": name,
            "GROUNDING_SAMPLE_RATE": "1",
            "GROUNDING_AUDIT_MODE": "generate",
            "GROUNDING_AUDIT_CONDITIONS": "shuffled,blank,no_image,flipped",
            "GROUNDING_API_KEYS": API_KEY,
            "GROUNDING_REDIS_URL": redis.url,
        },
        log,
    )
    try:
        with httpx.Client(timeout=300) as client:

            def predict(item: ManifestItem) -> httpx.Response:
                return client.post(
                    f"{service.url}/predict",
                    files={"image": ("scan.png", Path(item.image).read_bytes(), "image/png")},
                    data={"question": item.question},
                )

            with ThreadPoolExecutor(max_workers=4) as pool:
                for response in pool.map(predict, items):
                    assert response.status_code == 200, response.text
                    assert response.json()["raw_output"].startswith("<think>")
            image, question = skeptic
            report = client.post(
                f"{service.url}/audit",
                files={"image": ("scan.png", image.read_bytes(), "image/png")},
                data={"question": question},
                headers={"X-API-Key": API_KEY},
            )
            assert report.status_code == 200, report.text
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                stats = client.get(f"{service.url}/stats").json()
                if stats["counts"]["audits"] >= len(items):
                    summary = client.get(f"{service.url}/stats", params={"view": "summary"})
                    assert summary.status_code == 200, summary.text
                    # 24 audits: below the 100 a baseline is frozen from, and it says so
                    assert summary.json()["verdict"]["status"] == "insufficient_data"
                    assert stats["verdict"] == summary.json()["verdict"]
                    assert "production requests" in stats["verdict"]["next_step"]
                    metrics = client.get(f"{service.url}/metrics").text
                    return stats, report.json(), metrics
                time.sleep(1)
        raise AssertionError(f"audits did not complete: {stats}")
    finally:
        service.stop()


def _series(metrics: str, name: str, *labels: str) -> float:
    """The sum of the samples of ``name`` carrying every one of ``labels``."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") and all(label in line for label in labels):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_stats_tell_grounded_reasoning_from_hallucinated_reasoning(
    grounded_reasoner_dir: Path,
    shortcut_reasoner_dir: Path,
    blind_reasoner_dir: Path,
    session_redis: RedisServer,
    tmp_path: Path,
) -> None:
    manifest = make_phantom(tmp_path / "traffic", 16, seed=77)
    # every side question (the mirrored image should move the answer), then the others
    every = read_manifest(manifest)
    sides = [item for item in every if item.question == SIDE_QUESTION]
    items = (sides + [item for item in every if item.question != SIDE_QUESTION])[:N_ITEMS]
    image, case = next(iter(read_cases(manifest).items()))
    skeptic = (Path(image), SKEPTIC_QUESTIONS[case.modality])
    models = {
        "grounded": grounded_reasoner_dir,
        "shortcut": shortcut_reasoner_dir,
        "blind": blind_reasoner_dir,
    }
    with ThreadPoolExecutor(max_workers=len(models)) as pool:
        futures = {
            kind: pool.submit(
                _serve_and_audit,
                model_dir,
                f"ref-{kind}",
                items,
                skeptic,
                session_redis,
                tmp_path / f"{kind}.log",
            )
            for kind, model_dir in models.items()
        }
        served = {kind: future.result() for kind, future in futures.items()}
    window = {kind: stats["windows"]["15m"] for kind, (stats, _, _) in served.items()}
    for kind, figures in window.items():
        print(
            f"\n{kind}: IS {figures['IS']['value']:.3f} (n={figures['IS']['n']}), claim rate "
            f"{figures['claim_rate']['value']:.3f}, HVRR {figures['HVRR']['value']:.3f}"
        )
        # requests before the first image is pooled have no other image yet: skipped
        assert figures["IS"]["n"] >= len(items) - 6
        assert figures["claim_rate"]["value"] >= 0.9, (kind, figures)
    grounded, shortcut, blind = window["grounded"], window["shortcut"], window["blind"]
    assert grounded["IS"]["value"] >= 0.3, grounded
    assert shortcut["IS"]["value"] <= 0.05, shortcut
    assert blind["IS"]["value"] <= 0.05, blind
    assert grounded["IS"]["lo"] > shortcut["IS"]["hi"]
    assert shortcut["HVRR"]["value"] >= 0.5, shortcut
    assert shortcut["HVRR"]["lo"] > grounded["HVRR"]["hi"]

    # flipped: the grounded reasoner follows the mirror, the shortcut keeps its side
    followed, kept = grounded["laterality_consistency"], shortcut["laterality_consistency"]
    print(f"\nlaterality consistency: grounded {followed}, shortcut {kept}")
    assert followed["n"] >= len(sides) - 2 >= 5, followed
    assert followed["value"] >= 0.8 and kept["value"] <= 0.2, (followed, kept)
    assert followed["lo"] > kept["hi"]
    assert grounded["flip_invariance"]["value"] >= 0.8, grounded
    for kind, (_, _, metrics) in served.items():
        model = f'model="ref-{kind}"'
        assert _series(
            metrics, "grounding_rate_items_total", model, 'rate="laterality_consistency"'
        )
        assert _series(metrics, "grounding_audited_conditions_total", model, 'condition="flipped"')

    grounded_report, shortcut_report = served["grounded"][1], served["shortcut"][1]
    for report in (grounded_report, shortcut_report):
        real = next(c for c in report["conditions"] if c["condition"] == "real")
        assert report["claim_spans"], (report["model"], real)
        for span in report["claim_spans"]:
            assert real["raw_output"][span["start"] : span["end"]] == span["text"]
    assert shortcut_report["modality_skeptic"] is True
    assert grounded_report["modality_skeptic"] is False
