"""The OpenAI-compatible face through a real `bentoml serve`, driven by the official client."""

from __future__ import annotations

import base64
import time

import httpx
import openai
import pytest

from tests.conftest import DEMO_API_KEY as KEY
from tests.support.images import png_bytes
from tests.support.servers import ServedService

QUESTION = "Is there a lesion?"


def data_uri(image: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(image).decode()}"


def user_turn(image: bytes | None, question: str = QUESTION) -> list[dict]:
    content: list[dict] = [{"type": "text", "text": question}]
    if image is not None:
        content.insert(0, {"type": "image_url", "image_url": {"url": data_uri(image)}})
    return [{"role": "user", "content": content}]


@pytest.fixture(scope="module")
def client(demo_service: ServedService) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{demo_service.url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_served_model(client: openai.OpenAI) -> None:
    assert [model.id for model in client.models.list()] == ["demo"]


def test_chat_answers_like_predict_with_usage_and_grounding(
    client: openai.OpenAI, demo_service: ServedService
) -> None:
    image = png_bytes(11)
    raw = client.chat.completions.with_raw_response.create(
        model="demo", messages=user_turn(image), temperature=0
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage.prompt_tokens > 10, "the prompt counts the image tokens too"
    assert 0 < usage.completion_tokens <= 8
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    grounding = completion.model_extra["grounding"]
    assert grounding["audit"] == {"sampled": False, "queued": False, "reason": "not_sampled"}
    assert raw.headers["x-grounding-request-id"] == grounding["request_id"]
    assert completion.id == f"chatcmpl-{grounding['request_id']}"
    assert raw.headers["x-grounding-audit-sampled"] == "false"

    predicted = httpx.post(
        f"{demo_service.url}/predict",
        json={"image_base64": base64.b64encode(image).decode(), "question": QUESTION},
        timeout=60,
    ).json()
    assert choice.message.content == predicted["raw_output"], "same engine, same greedy output"
    assert grounding["answer"] == predicted["answer"]


def test_streaming_matches_the_whole_answer(client: openai.OpenAI) -> None:
    image = png_bytes(12)
    whole = client.chat.completions.create(model="demo", messages=user_turn(image))
    stream = client.chat.completions.create(
        model="demo",
        messages=user_turn(image),
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == whole.choices[0].message.content
    assert len([p for p in pieces if p]) >= 1
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.total_tokens == whole.usage.total_tokens


def test_forced_audit_is_mirrored_and_recorded(
    client: openai.OpenAI, demo_service: ServedService
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="demo",
        messages=[{"role": "system", "content": "Answer briefly."}, *user_turn(png_bytes(13))],
        extra_body={"audit": True, "request_id": "openai-audit-1"},
    )
    assert raw.headers["x-grounding-audit-sampled"] == "true"
    assert raw.headers["x-grounding-audit-reason"] == "forced"
    deadline = time.monotonic() + 60
    found = None
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{demo_service.url}/audits/openai-audit-1",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        if found.status_code == 200:
            break
        time.sleep(0.5)
    assert found is not None and found.status_code == 200, found.text if found else None
    record = found.json()["record"]
    assert record["source"] == "mirror"
    assert {"blank", "no_image"} <= set(record["conditions"])


def test_token_budget_and_text_only(client: openai.OpenAI) -> None:
    short = client.chat.completions.create(
        model="demo", messages=user_turn(png_bytes(14)), max_tokens=2
    )
    assert short.usage.completion_tokens <= 2
    if short.choices[0].finish_reason == "length":
        assert short.usage.completion_tokens == 2
    text_only = client.chat.completions.create(
        model="demo", messages=[{"role": "user", "content": QUESTION}]
    )
    assert text_only.choices[0].message.content is not None
    assert text_only.model_extra["grounding"]["audit"]["reason"] == "no_image"


def test_refusals_are_openai_errors(client: openai.OpenAI, demo_service: ServedService) -> None:
    remote = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.org/scan.png"}},
                {"type": "text", "text": QUESTION},
            ],
        }
    ]
    with pytest.raises(openai.BadRequestError, match="never fetches"):
        client.chat.completions.create(model="demo", messages=remote)
    with pytest.raises(openai.NotFoundError, match="serves `demo`"):
        client.chat.completions.create(model="gpt-4o", messages=user_turn(png_bytes(1)))
    history = [*user_turn(png_bytes(1)), {"role": "assistant", "content": "yes"}]
    history += user_turn(None, "Are you sure?")
    with pytest.raises(openai.BadRequestError, match="one user turn"):
        client.chat.completions.create(model="demo", messages=history)
    with pytest.raises(openai.BadRequestError, match="n must be 1"):
        client.chat.completions.create(model="demo", messages=user_turn(png_bytes(1)), n=2)

    corrupt = httpx.post(
        f"{demo_service.url}/v1/chat/completions",
        json={"model": "demo", "messages": user_turn(b"not a png at all")},
        timeout=30,
    )
    assert corrupt.status_code == 400
    error = corrupt.json()["error"]
    assert error["type"] == "invalid_request_error" and "image" in error["message"]
    malformed = httpx.post(
        f"{demo_service.url}/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]["message"]
    empty = httpx.post(
        f"{demo_service.url}/v1/chat/completions",
        json={"model": "demo", "messages": user_turn(png_bytes(1), "   ")},
        timeout=30,
    )
    assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"]
    # the worker lives after every refusal
    assert client.chat.completions.create(model="demo", messages=user_turn(png_bytes(2))).choices


def test_openapi_documents_the_openai_face(demo_service: ServedService) -> None:
    paths = httpx.get(f"{demo_service.url}/docs.json", timeout=30).json()["paths"]
    assert "get" in paths["/v1/models"]
    body = paths["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert {"model", "messages", "max_tokens", "stream"} <= set(body["schema"]["properties"])
