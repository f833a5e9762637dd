"""What the service serves, built once at start-up: the backend (chosen from the registry,
``audits.backends.registry``, and nowhere else), the engine that runs it, the audit mode it
supports, and the images that fill the shuffle pool.

The backend's declared capabilities decide the rest: a backend whose calls may overlap (a
server) gets the upstream engine with a second, lower-priority client for audits; any other
gets the in-process engine that owns the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from audits.backends.registry import BackendOptions, backend_kind, build_backend
from audits.contracts.backend import VLMBackend
from audits.contracts.types import AuditMode
from service.engine.scheduler import InferenceEngine
from service.engine.stats import StatsCallback
from service.engine.upstream import UpstreamEngine
from service.engine.upstream_probe import check_upstream_priority
from service.settings import Settings

log = logging.getLogger(__name__)

CHECK_MODEL_HINT = "check a checkpoint with: .venv/bin/grounding-audit check-model PATH"


def backend_name(settings: Settings) -> str:
    """The registered backend served (``GROUNDING_BACKEND``; unset: ``openai`` when an
    upstream URL is set, else ``transformers``)."""
    return settings.model.backend or ("openai" if settings.upstream.url else "transformers")


def serves_local_checkpoint(settings: Settings) -> bool:
    return backend_kind(backend_name(settings)).local


def resolve_model_dir(settings: Settings) -> Path:
    if settings.model.path is not None:
        return settings.model.path
    from service.reference.prepare import ensure_reference_model

    return ensure_reference_model(settings.model.reference, settings.model.cache_dir)


def warm_pool_images(settings: Settings, *, serving_reference: bool) -> list[Path]:
    """Images that fill the shuffle pool at start (``shuffle_pool_warm_dir``; for a reference
    model, phantom images), at most the pool's size."""
    if settings.audit.shuffle_pool_warm_dir is not None:
        folder = settings.audit.shuffle_pool_warm_dir
        paths = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    elif serving_reference:
        from reference_models.phantom_data import ensure_warm_pool_images

        paths = ensure_warm_pool_images(settings.model.cache_dir)
    else:
        return []
    return paths[: settings.audit.shuffle_pool_size]


def checkpoint_problem(settings: Settings) -> str | None:
    """Why ``GROUNDING_MODEL_PATH`` cannot be served, found without loading the model (one line,
    with the command that checks it fully); None when it looks like a checkpoint folder."""
    path = settings.model.path
    if path is None or not serves_local_checkpoint(settings):
        return None
    if not path.is_dir():
        return f"GROUNDING_MODEL_PATH={path} is not a folder; {CHECK_MODEL_HINT}"
    if not (path / "config.json").is_file():
        return (
            f"GROUNDING_MODEL_PATH={path} holds no Hugging Face checkpoint (no config.json); "
            f"{CHECK_MODEL_HINT}"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"GROUNDING_MODEL_PATH={path}: transformers cannot read its config.json ({first}); "
            f"{CHECK_MODEL_HINT}"
        )
    return None


def model_label(settings: Settings) -> str:
    if settings.model.name:
        return settings.model.name
    if settings.model.path is not None:
        return settings.model.path.name
    return f"reference-{settings.model.reference}"


def load_backend(settings: Settings) -> VLMBackend:
    """The production backend. A server's production client never retries and never scores
    (audits get a client of their own, ``audit_backend``)."""
    name = backend_name(settings)
    local = backend_kind(name).local
    options = BackendOptions(
        model=str(resolve_model_dir(settings)) if local else settings.upstream.model,
        url=settings.upstream.url,
        api_key=settings.upstream.api_key_value,
        model_name=model_label(settings),
        device=settings.model.device,
        dtype=settings.model.dtype,
        max_new_tokens=settings.model.max_new_tokens,
        concurrency=settings.limits.max_concurrency,
        timeout_s=settings.upstream.timeout_s,
        max_retries=0,
        scoring=local,
    )
    return build_backend(name, options)


def audit_backend(settings: Settings, served_model: str) -> VLMBackend:
    """The audits' client of a server: retried, with the lower priority, for the model the
    production client found."""
    priority_field = settings.upstream.priority_field
    options = BackendOptions(
        model=served_model,
        url=settings.upstream.url,
        api_key=settings.upstream.api_key_value,
        max_new_tokens=settings.model.max_new_tokens,
        concurrency=4 * settings.upstream.audit_concurrency,
        timeout_s=settings.upstream.audit_timeout_s,
        max_retries=settings.upstream.audit_retries,
        request_fields={priority_field: settings.upstream.audit_priority} if priority_field else {},
    )
    return build_backend(backend_name(settings), options)


def supported_audit_mode(wanted: AuditMode, backend: VLMBackend) -> AuditMode:
    """Score mode only where the backend scores (a server: where it returns prompt
    log-probabilities); said at start-up."""
    scoring = backend.capabilities.score
    log.info(
        "model %s: prompt log-probabilities %s",
        backend.model_name,
        "returned (score mode available)" if scoring else "not returned (generate mode only)",
    )
    if wanted != "generate" and not scoring:
        log.warning(
            "GROUNDING_AUDIT_MODE=%s needs prompt log-probabilities; audits run in generate mode",
            wanted,
        )
        return "generate"
    return wanted


@dataclass(frozen=True)
class Serving:
    backend: VLMBackend
    engine: InferenceEngine | UpstreamEngine
    audit_mode: AuditMode
    warm_images: list[Path]
    """Images that fill the shuffle pool at start."""


def start_serving(
    settings: Settings, backend: VLMBackend | None, on_stats: StatsCallback
) -> Serving:
    """The backend (``backend``, else the configured one) and the engine that runs it."""
    serving_reference = backend is None and serves_local_checkpoint(settings)
    serving_reference = serving_reference and settings.model.path is None
    backend = backend or load_backend(settings)
    engine: InferenceEngine | UpstreamEngine
    if backend.capabilities.concurrent:
        engine = UpstreamEngine(
            backend,
            audit_backend(settings, backend.model_name),
            production_concurrency=settings.limits.max_concurrency,
            audit_concurrency=settings.upstream.audit_concurrency,
            busy_audit_concurrency=settings.upstream.busy_audit_concurrency,
            audit_queue_size=settings.audit.queue_size,
            audit_queue_bytes=settings.audit.queue_bytes,
            on_stats=on_stats,
        )
    else:
        engine = InferenceEngine(
            backend,
            max_batch_size=settings.model.max_batch_size,
            audit_queue_size=settings.audit.queue_size,
            audit_queue_bytes=settings.audit.queue_bytes,
            on_stats=on_stats,
        )
    audit_mode = supported_audit_mode(settings.audit.mode, engine.audit_backend)
    if engine.audit_backend.capabilities.priority:
        check_upstream_priority(settings)  # logs whether audits really yield (never raises)
    return Serving(
        backend,
        engine,
        audit_mode,
        warm_pool_images(settings, serving_reference=serving_reference),
    )
