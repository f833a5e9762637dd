"""All service settings in one place; each can be set as an environment variable GROUNDING_*."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from audits.contracts.types import AuditMode, Condition
from audits.science.conditions import default_conditions

ReferenceModel = Literal[
    "grounded_reasoner",
    "shortcut_reasoner",
    "blind_reasoner",
    "grounded",
    "text_only",
    "random",
]
"""Built-in models (reference_models/, shipped in models/reference/): three that reason, two
one-word ones, random weights."""


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "grounding-audit"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GROUNDING_", env_file=None, extra="ignore")

    backend: str | None = Field(
        None,
        description="A registered backend (audits.backends.registry: transformers, openai); "
        "unset: openai when upstream_url is set, else transformers",
    )
    model_path: Path | None = Field(
        None, description="Local checkpoint folder; unset serves the built-in reference model"
    )
    reference_model: ReferenceModel = Field(
        "grounded_reasoner", description="Built-in model when model_path is unset"
    )
    model_name: str | None = Field(None, description="Label in metrics and records")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Built models, data")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_new_tokens: int = Field(96, ge=1, le=4096)
    max_completion_tokens: int = Field(
        1024, ge=1, le=32768, description="Cap on an OpenAI request's max_tokens"
    )

    upstream_url: str | None = Field(
        None,
        description="An OpenAI-compatible server (vLLM, SGLang, TGI) to forward to instead of "
        "loading a model here",
    )
    upstream_model: str | None = Field(None, description="Its model name; default: the first")
    upstream_api_key: SecretStr | None = None
    upstream_timeout_s: float = Field(
        55.0, gt=0, description="Production: 504 after this; keep below request_timeout_s"
    )
    upstream_priority_field: str = Field(
        "priority", description="Request field that lowers audit priority; empty: none sent"
    )
    upstream_audit_priority: int = Field(10, description="Its value on audit requests")
    upstream_audit_concurrency: int = Field(4, ge=1)
    upstream_busy_audit_concurrency: int = Field(
        1, ge=1, description="Audits at once while production requests are in flight"
    )
    upstream_audit_retries: int = Field(2, ge=0)
    upstream_audit_timeout_s: float = Field(120.0, gt=0)

    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_question_chars: int = Field(4000, ge=1)
    max_answer_chars: int = Field(2000, ge=1)
    dicom_default_windows: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=lambda: {"CT": (40.0, 400.0)},
        description="VOI window (centre/width, modality units) per modality for DICOM frames "
        "whose header has none, e.g. CT=40/400,MR=300/600; other modalities use the frame's range",
    )

    sample_rate: float = Field(0.1, ge=0.0, le=1.0, description="Share of requests mirrored")
    audit_mode: AuditMode = "both"
    audit_conditions: Annotated[list[Condition], NoDecode] = Field(
        default_factory=lambda: list(default_conditions())
    )
    audit_queue_size: int = Field(256, ge=1)
    audit_queue_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="Memory budget of the images the waiting mirrored audits hold; beyond it "
        "the oldest audit is dropped (queue_bytes)",
    )
    max_batch_size: int = Field(8, ge=1)
    shuffle_pool_size: int = Field(256, ge=2)
    shuffle_pool_warm_dir: Path | None = Field(
        None,
        description="Images (PNG, JPEG, DICOM; de-identified) that fill the shuffle pool at "
        "start, so the first audits already run the shuffled condition; unset: a reference "
        "model starts with 32 phantom images, a checkpoint of yours with an empty pool",
    )
    shuffle_pool_bytes: int = Field(
        256 * 1024 * 1024, ge=1, description="Memory budget of the shuffle pool's images"
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_stream_maxlen: int = Field(100_000, ge=1)
    record_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    sink_buffer_size: int = Field(10_000, ge=1)

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr("local-dev-key")]
    )
    predict_requires_key: bool = False
    hmac_secret: SecretStr = SecretStr("local-dev-hmac-secret")
    retain_text: bool = Field(False, description="Keep question/answer text in Redis records")

    workers: int = Field(1, ge=1)
    max_concurrency: int = Field(64, ge=1)
    request_timeout_s: float = Field(60.0, gt=0)
    header_timeout_s: float = Field(10.0, gt=0, description="Request headers later get 408")
    body_timeout_s: float = Field(60.0, gt=0, description="Request bodies later get 408")
    upload_buffer_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="Bytes of request bodies still arriving, all clients together (counted as "
        "they arrive); an upload that does not fit gets 503",
    )
    upload_buffer_bytes_per_client: int = Field(
        256 * 1024 * 1024,
        ge=1,
        description="Of those, what one client address may hold (at least one whole body); "
        "behind a reverse proxy every client has its address: set it to upload_buffer_bytes",
    )
    shutdown_grace_s: float = Field(10.0, ge=0)

    drift_min_audits: int = Field(100, ge=1)
    drift_windows_s: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [900, 3600, 21600]
    )

    @field_validator("audit_conditions", mode="before")
    @classmethod
    def _split_conditions(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("dicom_default_windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        windows: dict[str, tuple[float, float]] = {}
        for part in _split_csv(value):  # type: ignore[union-attr]
            modality, _, window = part.partition("=")
            center, _, width = window.partition("/")
            try:
                windows[modality.strip().upper()] = (float(center), float(width))
            except ValueError:
                raise ValueError(
                    f"a DICOM window is MODALITY=CENTRE/WIDTH (e.g. CT=40/400), got {part!r}"
                ) from None
        return windows

    @field_validator("dicom_default_windows")
    @classmethod
    def _positive_widths(cls, value: dict[str, tuple[float, float]]) -> object:
        bad = [m for m, (_, width) in value.items() if width < 1]
        if bad:
            raise ValueError(f"window widths must be at least 1, not for {bad}")
        return value

    @field_validator("drift_windows_s", mode="before")
    @classmethod
    def _split_windows(cls, value: object) -> object:
        return _split_csv(value)


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
