"""Backends are chosen from one registry, and each declares what it can do; a new backend is its
own class plus one registration, and the service and the CLI then choose it by name."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from audits.backends.registry import (
    BACKENDS,
    BackendOptions,
    backend_kind,
    build_backend,
    register_backend,
)
from audits.contracts.backend import (
    BackendBase,
    BackendCapabilities,
    GenerationParams,
    VLMBackend,
    VLMInput,
)
from service.engine.scheduler import InferenceEngine
from service.engine.upstream import UpstreamEngine
from service.settings import Settings
from service.startup import start_serving


class RemoteEcho(BackendBase):
    """A server-like backend: calls overlap, no scoring."""

    capabilities = BackendCapabilities(score=False, concurrent=True)

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.model_name = options.model or "echo"

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [item.question for item in items]


class LocalEcho(BackendBase):
    """A backend that declares nothing beyond the defaults."""

    model_name = "local-echo"

    def generate(self, items: Sequence[VLMInput], **_: object) -> list[str]:
        return [item.question for item in items]


@pytest.fixture
def remote_echo() -> Iterator[str]:
    register_backend("remote-echo", local=False)(RemoteEcho)
    try:
        yield "remote-echo"
    finally:
        del BACKENDS["remote-echo"]


def test_the_built_in_backends_are_registered() -> None:
    assert backend_kind("transformers").local
    assert not backend_kind("openai").local
    with pytest.raises(ValueError, match="unknown backend 'vllm2'; one of transformers, openai"):
        backend_kind("vllm2")
    with pytest.raises(ValueError, match="registered twice"):
        register_backend("openai", local=False)(RemoteEcho)


def test_a_production_client_of_a_server_declares_no_scoring_without_asking() -> None:
    options = BackendOptions(model="served", url="http://127.0.0.1:9/v1", scoring=False)
    backend = build_backend("openai", options)  # a named model: no request is sent
    try:
        capabilities = backend.capabilities
        assert (capabilities.score, capabilities.concurrent, capabilities.priority) == (
            False,
            True,
            True,
        )
        assert not capabilities.preemption and capabilities.max_image_pixels is None
    finally:
        backend.close()


def test_the_local_runtime_declares_preemption_and_the_image_size_it_consumes(
    demo_model_dir: Path,
) -> None:
    options = BackendOptions(model=str(demo_model_dir), device="cpu", max_new_tokens=4)
    runtime: VLMBackend = build_backend("transformers", options)
    capabilities = runtime.capabilities
    assert capabilities.preemption and capabilities.score and not capabilities.concurrent
    assert capabilities.max_image_pixels is not None and capabilities.max_image_pixels > 0
    assert runtime.model_name == demo_model_dir.name
    detailed = runtime.generate_detailed([VLMInput("Is there a lesion?")], GenerationParams())
    assert detailed[0].prompt_tokens and detailed[0].prompt_tokens > 0


def test_the_service_runs_a_registered_backend_by_its_capabilities(remote_echo: str) -> None:
    settings = Settings(backend=remote_echo, redis_url="", audit_mode="both")
    serving = start_serving(settings, None, on_stats=lambda stats: None)
    try:
        assert isinstance(serving.engine, UpstreamEngine), "calls overlap: forwarded at once"
        assert serving.audit_mode == "generate", "a backend that does not score"
        assert serving.warm_images == [], "no reference model behind a server"
    finally:
        serving.engine.stop(grace_s=0)
    local = start_serving(Settings(redis_url=""), LocalEcho(), on_stats=lambda stats: None)
    assert isinstance(local.engine, InferenceEngine), "a backend that declares nothing more"
    assert local.audit_mode == "both"
    detailed = LocalEcho().generate_detailed([VLMInput("q")], GenerationParams(seed=3))
    assert detailed[0].text == "q" and detailed[0].prompt_tokens is None


def test_the_cli_builds_a_registered_backend_by_name(remote_echo: str) -> None:
    from cli.run_command import _auditor, _mode, register

    parser = argparse.ArgumentParser()
    register(parser)
    args = parser.parse_args(
        ["--manifest", "m.jsonl", "--out", "o", "--backend", remote_echo, "--model", "served"]
    )
    auditor = _auditor(args)
    assert isinstance(auditor, RemoteEcho) and auditor.model_name == "served"
    assert _mode(args, auditor) == "generate"
    args.mode = "score"
    with pytest.raises(ValueError, match="--mode generate"):
        _mode(args, auditor)
