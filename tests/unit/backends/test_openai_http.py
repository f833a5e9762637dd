"""The OpenAI-compatible HTTP backend against a scripted transport (narrow protocol checks)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from audits.backends.openai_http import OpenAIBackend, UpstreamError, api_base
from audits.contracts.backend import GenerationParams, VLMInput
from tests.support.images import noise_image

Handler = Callable[[httpx.Request], httpx.Response]


def backend(handler: Handler, **options: object) -> OpenAIBackend:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIBackend("http://upstream:8000", "m", client=client, backoff_s=0.001, **options)  # type: ignore[arg-type]


def completion(text: str, prompt_tokens: int = 10, **extra: object) -> httpx.Response:
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 2},
        **extra,
    }
    return httpx.Response(200, json=body)


def test_base_urls_with_and_without_v1() -> None:
    assert api_base("http://h:8000") == api_base("http://h:8000/v1/") == "http://h:8000/v1"


def test_generate_sends_a_data_uri_image_keeps_order_and_adds_extra_fields() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        return completion(body["messages"][0]["content"][-1]["text"].upper())

    client = backend(handler, extra_body={"priority": 5}, concurrency=3)
    items = [VLMInput(f"q{i}", noise_image(i) if i % 2 else None) for i in range(6)]
    assert client.generate(items) == [f"Q{i}" for i in range(6)]
    for body in seen:
        parts = body["messages"][0]["content"]
        has_image = body["messages"][0]["content"][0]["type"] == "image_url"
        assert body["priority"] == 5 and body["temperature"] == 0 and body["model"] == "m"
        assert has_image == (int(parts[-1]["text"][1:]) % 2 == 1)
        if has_image:
            assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    detailed = client.generate_detailed(items[:1], GenerationParams(max_new_tokens=3, seed=4))
    assert detailed[0].prompt_tokens == 10 and detailed[0].completion_tokens == 2
    assert seen[-1]["max_tokens"] == 3 and seen[-1]["seed"] == 4


def test_busy_answers_are_retried_and_client_errors_are_not() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "0"}), completion("ok")])
    retried: list[int] = []
    client = backend(lambda r: next(answers), on_retry=lambda: retried.append(1))
    assert client.generate([VLMInput("q")]) == ["ok"]
    assert retried == [1]

    calls: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "bad image"}})

    with pytest.raises(UpstreamError, match="400: bad image") as caught:
        backend(refuse).generate([VLMInput("q")])
    assert caught.value.status == 400 and calls == [1]

    once: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        once.append(1)
        return httpx.Response(502)

    with pytest.raises(UpstreamError, match="502"):
        backend(down, max_retries=0).generate([VLMInput("q")])
    assert once == [1], "0 retries sends each request once"


def test_scoring_sums_the_answer_tokens_prompt_logprobs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("prompt_logprobs") is None:
            return completion("x", prompt_tokens=3)  # the question's prompt is 3 tokens
        if body["messages"][0]["content"] == "ping":
            return completion("x", prompt_logprobs=[None])
        assert body["continue_final_message"] and not body["add_generation_prompt"]
        answer = body["messages"][-1]["content"]
        prompt = [None, {"1": {"logprob": -9.0}}, {"2": {"logprob": -9.0}}]
        answer_part = [{str(i): {"logprob": -0.5, "rank": 1}} for i in range(len(answer))]
        return completion("x", prompt_logprobs=prompt + answer_part)

    client = backend(handler)
    assert client.supports_scoring()
    assert client.score([VLMInput("q"), VLMInput("q")], ["ab", "abcd"]) == [-1.0, -2.0]


def test_a_server_without_prompt_logprobs_refuses_score_mode_clearly() -> None:
    client = backend(lambda r: completion("x"))
    assert not client.supports_scoring()
    with pytest.raises(UpstreamError, match="generate mode"):
        client.score([VLMInput("q")], ["yes"])
