"""Turning an OpenAI chat request into one question about at most one image."""

from __future__ import annotations

import base64
import json

import pytest

from service.errors import ServiceError
from service.http.errors import status_of
from service.http.imaging import ImageLimits, decode_upload
from service.http.interfaces import AuditDecision
from service.http.openai_api import (
    ChatCompletionRequest,
    Completed,
    GroundingInfo,
    chat_input,
    decode_data_uri,
    sse_chunks,
)
from tests.support.dicom import shipped_bytes

PNG = b"\x89PNG\r\n\x1a\nfake"
URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def request(*messages: dict, **fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": messages, **fields})


def user(*parts: dict | str) -> dict:
    content = [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]
    return {"role": "user", "content": content}


IMAGE = {"type": "image_url", "image_url": {"url": URI}}


def test_system_text_precedes_the_question_and_the_image_is_decoded() -> None:
    chat = chat_input(
        request({"role": "system", "content": "Be brief."}, user(IMAGE, "Is there a lesion?"))
    )
    assert chat.question == "Be brief.\n\nIs there a lesion?"
    assert chat.image == PNG and chat.media_type == "image/png"


def test_plain_string_content_is_a_text_only_question() -> None:
    chat = chat_input(request({"role": "user", "content": "Hello?"}))
    assert (chat.question, chat.image) == ("Hello?", None)


@pytest.mark.parametrize(
    ("uri", "status", "words"),
    [
        ("https://example.org/a.png", 400, "never fetches"),
        ("file:///etc/passwd", 400, "never fetches"),
        ("data:image/png,rawbytes", 400, "base64"),
        ("data:text/plain;base64,aGk=", 415, "media type"),
        ("data:image/png;base64,@@@", 400, "not valid base64"),
    ],
)
def test_image_urls_other_than_base64_images_are_refused(uri: str, status: int, words: str) -> None:
    with pytest.raises(ServiceError, match=words) as caught:
        decode_data_uri(uri)
    assert status_of(caught.value) == status


@pytest.mark.parametrize(
    ("messages", "fields", "words"),
    [
        ([user(IMAGE, "q"), {"role": "assistant", "content": "a"}, user("q2")], {}, "one user"),
        ([user("a"), user("b")], {}, "exactly one user"),
        ([user(IMAGE, IMAGE, "q")], {}, "at most one image"),
        ([user(IMAGE, "q")], {"n": 3}, "n must be 1"),
    ],
)
def test_chats_the_audit_cannot_compare_are_refused(
    messages: list[dict], fields: dict, words: str
) -> None:
    with pytest.raises(ServiceError, match=words):
        chat_input(request(*messages, **fields))


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert request(user("q"), max_tokens=5, max_completion_tokens=3).token_budget == 3
    assert request(user("q"), max_tokens=5).token_budget == 5


def test_stream_chunks_rebuild_the_text_and_end_with_done() -> None:
    completed = Completed(
        model="m",
        text="Yes, a left  lesion.\nDone",
        finish_reason="stop",
        prompt_tokens=7,
        completion_tokens=5,
        grounding=GroundingInfo(
            request_id="r1",
            answer="yes",
            audit=AuditDecision(sampled=True, queued=True, reason="forced"),
        ),
    )
    events = list(sse_chunks(completed, include_usage=True))
    assert events[-1] == "data: [DONE]\n\n"
    bodies = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in bodies if c["choices"])
    assert text == completed.text
    assert bodies[0]["choices"][0]["delta"]["role"] == "assistant"
    finish = [c for c in bodies if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["grounding"]["audit"]["reason"] == "forced"
    assert bodies[-1]["choices"] == [] and bodies[-1]["usage"]["total_tokens"] == 12


def test_dicom_data_uris_reach_the_dicom_decoder() -> None:
    """A DICOM data: URI's bytes go to ``decode_upload`` like any upload: rendered, with its
    modality; a DICOM object without pixels is refused there (422)."""
    ct = shipped_bytes("CT_small.dcm")
    url = "data:application/dicom;base64," + base64.b64encode(ct).decode()
    dicom = {"type": "image_url", "image_url": {"url": url}}
    chat = chat_input(request(user(dicom, "Is there a lesion?")))
    assert chat.image == ct
    limits = ImageLimits(max_bytes=1_000_000, max_pixels=1_000_000)
    decoded = decode_upload(chat.image, limits)
    assert (decoded.format, decoded.modality, decoded.image.size) == ("dicom", "CT", (128, 128))
    with pytest.raises(ServiceError) as caught:
        decode_upload(shipped_bytes("rtplan.dcm"), limits)
    assert status_of(caught.value) == 422
