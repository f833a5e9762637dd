"""Every backend the audits and the service can run, by name: ``@register_backend`` on a factory
that builds it from ``BackendOptions``; ``backend_kind`` and ``build_backend`` for the service
and the CLI, which choose from here and nowhere else.

A new backend is its own module (a ``BackendBase`` subclass that declares its
``BackendCapabilities``) plus one registration below. A factory imports its module when it
runs, so a backend's dependencies (torch for the local runtime) load only when it is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audits.contracts.backend import VLMBackend


@dataclass(frozen=True)
class BackendOptions:
    """What a backend is built from; each factory reads the fields it needs."""

    model: str | None = None
    """A local backend: its checkpoint folder. A server: the served model's name (None: the
    first one it lists)."""
    url: str | None = None
    """A server's base URL."""
    api_key: str | None = None
    model_name: str | None = None
    """A local backend's label in metrics and records (default: the folder's name)."""
    device: str = "auto"
    dtype: str = "auto"
    max_new_tokens: int = 128
    concurrency: int = 8
    """Requests in flight to a server."""
    timeout_s: float = 600.0
    max_retries: int = 4
    request_fields: Mapping[str, Any] = field(default_factory=dict)
    """Fields added to every request to a server (the audits' lower ``priority``)."""
    scoring: bool = True
    """Whether the backend will be asked to score; False (a production client) declares no
    scoring without asking the server."""


BackendFactory = Callable[[BackendOptions], VLMBackend]


@dataclass(frozen=True)
class BackendKind:
    name: str
    factory: BackendFactory
    local: bool
    """Loads a checkpoint folder on this machine (``BackendOptions.model``), rather than
    calling a server (``BackendOptions.url``)."""


BACKENDS: dict[str, BackendKind] = {}


def register_backend(name: str, *, local: bool) -> Callable[[BackendFactory], BackendFactory]:
    def register(factory: BackendFactory) -> BackendFactory:
        if name in BACKENDS:
            raise ValueError(f"backend {name!r} is registered twice")
        BACKENDS[name] = BackendKind(name, factory, local)
        return factory

    return register


def backend_kind(name: str) -> BackendKind:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; one of {', '.join(BACKENDS)}") from None


def build_backend(name: str, options: BackendOptions) -> VLMBackend:
    return backend_kind(name).factory(options)


@register_backend("transformers", local=True)
def _transformers(options: BackendOptions) -> VLMBackend:
    from audits.backends.transformers_runtime import TransformersRuntime

    if not options.model:
        raise ValueError("the transformers backend needs a checkpoint folder")
    return TransformersRuntime(
        Path(options.model),
        device=options.device,
        dtype=options.dtype,
        max_new_tokens=options.max_new_tokens,
        model_name=options.model_name,
    )


@register_backend("openai", local=False)
def _openai(options: BackendOptions) -> VLMBackend:
    from audits.backends.openai_http import OpenAIBackend

    if not options.url:
        raise ValueError("the openai backend needs the server's URL")
    return OpenAIBackend(
        options.url,
        options.model,
        api_key=options.api_key,
        concurrency=options.concurrency,
        timeout_s=options.timeout_s,
        max_retries=options.max_retries,
        max_new_tokens=options.max_new_tokens,
        extra_body=options.request_fields,
        scoring=None if options.scoring else False,
    )
