"""All service settings in one place, in groups (``settings.model.device``,
``settings.upstream.url``, ...). Each is set by the environment variable it always had:
``GROUNDING_`` and the field's flat name (its alias where it has one), e.g. ``GROUNDING_DEVICE``,
``GROUNDING_UPSTREAM_URL``, ``GROUNDING_AUDIT_MODE``. ``Settings(...)`` also takes the flat
names (``Settings(redis_url="")``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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


GROUP_CONFIG = ConfigDict(validate_by_name=True, validate_by_alias=True, extra="forbid")


class ModelSettings(BaseModel):
    """What model is served and how it decodes."""

    model_config = GROUP_CONFIG

    backend: str | None = Field(
        None,
        description="A registered backend (audits.backends.registry: transformers, openai); "
        "unset: openai when upstream_url is set, else transformers",
    )
    path: Path | None = Field(
        None,
        alias="model_path",
        description="Local checkpoint folder; unset serves the built-in reference model",
    )
    reference: ReferenceModel = Field(
        "grounded_reasoner",
        alias="reference_model",
        description="Built-in model when model_path is unset",
    )
    name: str | None = Field(None, alias="model_name", description="Label in metrics and records")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Built models, data")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_new_tokens: int = Field(96, ge=1, le=4096)
    max_completion_tokens: int = Field(
        1024, ge=1, le=32768, description="Cap on an OpenAI request's max_tokens"
    )
    max_batch_size: int = Field(8, ge=1)


class UpstreamSettings(BaseModel):
    """An OpenAI-compatible server the service forwards to instead of loading a model."""

    model_config = GROUP_CONFIG

    url: str | None = Field(
        None,
        alias="upstream_url",
        description="An OpenAI-compatible server (vLLM, SGLang, TGI) to forward to instead of "
        "loading a model here",
    )
    model: str | None = Field(
        None, alias="upstream_model", description="Its model name; default: the first"
    )
    api_key: SecretStr | None = Field(None, alias="upstream_api_key")
    timeout_s: float = Field(
        55.0,
        gt=0,
        alias="upstream_timeout_s",
        description="Production: 504 after this; keep below request_timeout_s",
    )
    priority_field: str = Field(
        "priority",
        alias="upstream_priority_field",
        description="Request field that lowers audit priority; empty: none sent",
    )
    audit_priority: int = Field(
        10, alias="upstream_audit_priority", description="Its value on audit requests"
    )
    audit_concurrency: int = Field(4, ge=1, alias="upstream_audit_concurrency")
    busy_audit_concurrency: int = Field(
        1,
        ge=1,
        alias="upstream_busy_audit_concurrency",
        description="Audits at once while production requests are in flight",
    )
    audit_retries: int = Field(2, ge=0, alias="upstream_audit_retries")
    audit_timeout_s: float = Field(120.0, gt=0, alias="upstream_audit_timeout_s")

    @property
    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None


class LimitsSettings(BaseModel):
    """What one request may hold and how long it may take; how its images are read."""

    model_config = GROUP_CONFIG

    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_question_chars: int = Field(4000, ge=1)
    max_answer_chars: int = Field(2000, ge=1)
    dicom_default_windows: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"CT": (40.0, 400.0)},
        description="VOI window (centre/width, modality units) per modality for DICOM frames "
        "whose header has none, e.g. CT=40/400,MR=300/600; other modalities use the frame's range",
    )
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


class AuditSettings(BaseModel):
    """Which requests are mirrored and audited how; the queues, the shuffle pool, drift."""

    model_config = GROUP_CONFIG

    sample_rate: float = Field(0.1, ge=0.0, le=1.0, description="Share of requests mirrored")
    mode: AuditMode = Field("both", alias="audit_mode")
    conditions: list[Condition] = Field(
        default_factory=lambda: list(default_conditions()), alias="audit_conditions"
    )
    queue_size: int = Field(256, ge=1, alias="audit_queue_size")
    queue_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        alias="audit_queue_bytes",
        description="Memory budget of the images the waiting mirrored audits hold; beyond it "
        "the oldest audit is dropped (queue_bytes)",
    )
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
    drift_min_audits: int = Field(100, ge=1)
    drift_windows_s: list[int] = Field(default_factory=lambda: [900, 3600, 21600])

    @field_validator("conditions", "drift_windows_s", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_csv(value)


class RedisSettings(BaseModel):
    """Where audit records, counters and drift state are kept."""

    model_config = GROUP_CONFIG

    url: str = Field("redis://127.0.0.1:6379/0", alias="redis_url")
    stream_maxlen: int = Field(100_000, ge=1, alias="redis_stream_maxlen")
    record_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    sink_buffer_size: int = Field(10_000, ge=1)


class SecuritySettings(BaseModel):
    """Who may call what, and what is kept of the text."""

    model_config = GROUP_CONFIG

    api_keys: list[SecretStr] = Field(default_factory=lambda: [SecretStr("local-dev-key")])
    predict_requires_key: bool = False
    hmac_secret: SecretStr = SecretStr("local-dev-hmac-secret")
    retain_text: bool = Field(False, description="Keep question/answer text in Redis records")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return _split_csv(value)

    @property
    def hmac_key(self) -> str:
        return self.hmac_secret.get_secret_value()


class ServerSettings(BaseModel):
    """The worker processes."""

    model_config = GROUP_CONFIG

    workers: int = Field(1, ge=1)
    shutdown_grace_s: float = Field(10.0, ge=0)


GROUPS: dict[str, type[BaseModel]] = {
    "model": ModelSettings,
    "upstream": UpstreamSettings,
    "limits": LimitsSettings,
    "audit": AuditSettings,
    "redis": RedisSettings,
    "security": SecuritySettings,
    "server": ServerSettings,
}


FLAT_NAMES: dict[str, tuple[str, str]] = {
    field.alias or name: (group, name)
    for group, model in GROUPS.items()
    for name, field in model.model_fields.items()
}
"""Each setting's flat name (``GROUNDING_`` + it, upper case, is its environment variable) to
its group and field."""


class FlatEnvironment(PydanticBaseSettingsSource):
    """``GROUNDING_<FLAT NAME>`` environment variables (any case), into their groups."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {key.lower(): value for key, value in os.environ.items()}
        nested: dict[str, dict[str, str]] = {}
        for flat, (group, name) in FLAT_NAMES.items():
            value = environ.get(f"grounding_{flat}")
            if value is not None:
                nested.setdefault(group, {})[name] = value
        return nested


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    model: ModelSettings = Field(default_factory=ModelSettings)
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, FlatEnvironment(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """Flat names given to ``Settings(...)`` go to their groups, over the environment's."""
        if not isinstance(data, dict):
            return data
        nested = {key: value for key, value in data.items() if key not in FLAT_NAMES}
        for flat, value in data.items():
            if flat not in FLAT_NAMES:
                continue
            group, name = FLAT_NAMES[flat]
            current = nested.get(group, {})
            if isinstance(current, BaseModel):
                current = current.model_dump()
            nested[group] = {**current, name: value}
        return nested


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
