"""Settings come in groups, and every one is still set by the flat GROUNDING_* environment
variable it always had (README, deploy manifests and scripts use those names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import FLAT_NAMES, Settings

README = Path(__file__).resolve().parents[2] / "README.md"

ENVIRONMENT_NAMES = [
    "backend",
    "model_path",
    "reference_model",
    "model_name",
    "cache_dir",
    "device",
    "dtype",
    "max_new_tokens",
    "max_completion_tokens",
    "max_batch_size",
    "upstream_url",
    "upstream_model",
    "upstream_api_key",
    "upstream_timeout_s",
    "upstream_priority_field",
    "upstream_audit_priority",
    "upstream_audit_concurrency",
    "upstream_busy_audit_concurrency",
    "upstream_audit_retries",
    "upstream_audit_timeout_s",
    "max_image_bytes",
    "max_image_pixels",
    "max_question_chars",
    "max_answer_chars",
    "dicom_default_windows",
    "max_concurrency",
    "request_timeout_s",
    "header_timeout_s",
    "body_timeout_s",
    "upload_buffer_bytes",
    "upload_buffer_bytes_per_client",
    "sample_rate",
    "audit_mode",
    "audit_conditions",
    "audit_queue_size",
    "audit_queue_bytes",
    "shuffle_pool_size",
    "shuffle_pool_warm_dir",
    "shuffle_pool_bytes",
    "drift_min_audits",
    "drift_windows_s",
    "redis_url",
    "redis_stream_maxlen",
    "record_ttl_s",
    "sink_buffer_size",
    "api_keys",
    "predict_requires_key",
    "hmac_secret",
    "retain_text",
    "workers",
    "shutdown_grace_s",
]


def test_every_environment_variable_keeps_its_name() -> None:
    assert set(FLAT_NAMES) == set(ENVIRONMENT_NAMES)
    table = re.findall(r"^\| `GROUNDING_([A-Z0-9_]+)`", README.read_text(), re.M)
    assert {name.lower() for name in table} == set(FLAT_NAMES), "the README's settings table"


def test_flat_environment_variables_fill_the_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "GROUNDING_UPSTREAM_URL": "http://vllm:8000/v1",
        "GROUNDING_UPSTREAM_API_KEY": "upstream-key",
        "GROUNDING_MODEL_NAME": "served",
        "grounding_device": "cpu",  # any case, as before
        "GROUNDING_AUDIT_MODE": "generate",
        "GROUNDING_AUDIT_CONDITIONS": "shuffled, blank",
        "GROUNDING_DRIFT_WINDOWS_S": "60,120",
        "GROUNDING_DICOM_DEFAULT_WINDOWS": "CT=40/400,mr=300/600",
        "GROUNDING_API_KEYS": "k-1,k-2",
        "GROUNDING_REDIS_URL": "",
        "GROUNDING_RECORD_TTL_S": "60",
        "GROUNDING_PREDICT_REQUIRES_KEY": "true",
        "GROUNDING_WORKERS": "2",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.upstream.url == "http://vllm:8000/v1"
    assert settings.upstream.api_key_value == "upstream-key"
    assert (settings.model.name, settings.model.device) == ("served", "cpu")
    assert settings.audit.mode == "generate"
    assert [c.value for c in settings.audit.conditions] == ["shuffled", "blank"]
    assert settings.audit.drift_windows_s == [60, 120]
    assert settings.limits.dicom_default_windows == {"CT": (40.0, 400.0), "MR": (300.0, 600.0)}
    assert [key.get_secret_value() for key in settings.security.api_keys] == ["k-1", "k-2"]
    assert settings.security.predict_requires_key
    assert (settings.redis.url, settings.redis.record_ttl_s) == ("", 60)
    assert settings.server.workers == 2


def test_flat_names_given_in_code_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROUNDING_REDIS_URL", "redis://from-env:6379/0")
    monkeypatch.setenv("GROUNDING_REDIS_STREAM_MAXLEN", "5")
    settings = Settings(redis_url="", sample_rate=1.0, request_timeout_s=0.5)
    assert (settings.redis.url, settings.redis.stream_maxlen) == ("", 5)
    assert settings.audit.sample_rate == 1.0 and settings.limits.request_timeout_s == 0.5
    assert Settings().redis.url == "redis://from-env:6379/0"


def test_a_bad_value_names_its_group_and_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUNDING_MAX_NEW_TOKENS", "0")
    with pytest.raises(ValidationError, match=r"model\.max_new_tokens"):
        Settings()
    monkeypatch.delenv("GROUNDING_MAX_NEW_TOKENS")
    with pytest.raises(ValidationError, match="MODALITY=CENTRE/WIDTH"):
        Settings(dicom_default_windows="CT:40")
