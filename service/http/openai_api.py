"""The OpenAI chat-completions protocol: request and response schemas, turning a chat into one
question about at most one image, response bodies, server-sent-event chunks and error bodies.

Follows OpenAI's ``POST /v1/chat/completions`` and ``GET /v1/models`` (and vLLM's reading of
them): unknown request fields are ignored, ``n`` must be 1, images come only as ``data:`` URIs
(the service never fetches a URL). Extensions, sent by OpenAI clients through ``extra_body``:
``audit``, ``request_id`` and ``options``, with the meaning they have on ``/predict``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.errors import InvalidInput, MalformedInput, UnsupportedMediaType
from service.http.interfaces import AuditDecision, Text

DICOM_MEDIA_TYPES = frozenset({"application/dicom", "application/dicom+octet-stream"})
"""DICOM Part 10 data: URIs, rendered like any DICOM upload (``service.http.imaging``)."""

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}


# -- request ---------------------------------------------------------------------------------
class ImageURL(BaseModel):
    url: str = Field(description="A data: URI (data:image/png;base64,...); URLs are not fetched")
    detail: str | None = None


class TextPart(BaseModel):
    type: Literal["text"]
    text: Text


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat-completions request; fields this service does not use are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="The served model's id (GET /v1/models)")
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2, description="0 or unset: greedy")
    seed: int | None = None
    n: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    audit: bool | None = Field(
        None, description="Extension: true forces a grounding audit, false forbids one"
    )
    request_id: str | None = Field(
        None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$", description="Extension"
    )
    options: dict[Text, Text] | None = Field(
        None, description='Extension: closed-question options, e.g. {"A": "yes", "B": "no"}'
    )

    @property
    def token_budget(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


@dataclass(frozen=True)
class ChatInput:
    """A chat reduced to what the model is asked: one question, at most one image."""

    question: str
    image: bytes | None
    media_type: str | None


DATA_URI = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*),(?P<data>.*)$", re.S
)


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """The media type and bytes of a base64 ``data:`` URI; anything else is refused, never
    fetched."""
    if not uri.startswith("data:"):
        scheme = uri.split(":", 1)[0] if ":" in uri else "a relative reference"
        raise MalformedInput(
            f"image_url must be a data: URI (data:image/png;base64,...); this service never "
            f"fetches images, and {scheme} URLs are refused",
            field="messages.content.image_url",
        )
    match = DATA_URI.match(uri)
    if match is None or ";base64" not in match.group("params"):
        raise MalformedInput(
            "image_url data: URIs must be base64-encoded (data:image/png;base64,...)"
        )
    media_type = (match.group("type") or "").lower()
    if not (media_type.startswith("image/") or media_type in DICOM_MEDIA_TYPES):
        raise UnsupportedMediaType(
            f"the data: URI's media type is {media_type or 'missing'}; send image/png, "
            "image/jpeg, image/webp, image/tiff, image/bmp or application/dicom",
        )
    try:
        data = base64.b64decode(match.group("data"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"the image data: URI is not valid base64: {exc}") from exc
    return media_type, data


def _texts(content: str | list[Any] | None) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    return [part.text for part in content if isinstance(part, TextPart)]


def chat_input(request: ChatCompletionRequest) -> ChatInput:
    """System and developer text, then the user's text, as the question; the user's image.

    The audit compares answers to one question about one image, so a conversation with earlier
    assistant turns, several user turns or several images is refused (``InvalidInput``).
    """
    if request.n not in (None, 1):
        raise InvalidInput("n must be 1: this service returns one choice", field="n")
    preamble: list[str] = []
    users = [m for m in request.messages if m.role == "user"]
    others = [m for m in request.messages if m.role not in ("system", "developer", "user")]
    if others:
        raise InvalidInput(
            f"send one user turn (plus optional system messages); {others[0].role} messages "
            "are not accepted, because the audit compares answers to a single question",
            field="messages",
        )
    if len(users) != 1:
        raise InvalidInput(f"send exactly one user message, got {len(users)}", field="messages")
    for message in request.messages:
        if message.role in ("system", "developer"):
            preamble += _texts(message.content)
    user = users[0]
    images = (
        [p for p in user.content if isinstance(p, ImagePart)]
        if isinstance(user.content, list)
        else []
    )
    if len(images) > 1:
        raise InvalidInput(
            f"send at most one image per request, got {len(images)}", field="messages"
        )
    question = "\n\n".join(text for text in [*preamble, "\n".join(_texts(user.content))] if text)
    if not images:
        return ChatInput(question, None, None)
    media_type, data = decode_data_uri(images[0].image_url.url)
    return ChatInput(question, data, media_type)


# -- responses -------------------------------------------------------------------------------
class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "grounding-audit"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class GroundingInfo(BaseModel):
    """What the service adds to an OpenAI response: the parsed answer and the audit decision."""

    request_id: str
    answer: str = Field(description="The final answer parsed from the output")
    audit: AuditDecision


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    grounding: GroundingInfo


@dataclass(frozen=True)
class Completed:
    """A production answer in the terms the OpenAI protocol needs."""

    model: str
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    grounding: GroundingInfo

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.grounding.request_id}"

    def usage(self) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )

    def body(self) -> ChatCompletion:
        return ChatCompletion(
            id=self.completion_id,
            created=int(time.time()),
            model=self.model,
            choices=[
                Choice(
                    message=AssistantMessage(content=self.text), finish_reason=self.finish_reason
                )
            ],
            usage=self.usage(),
            grounding=self.grounding,
        )

    def headers(self) -> dict[str, str]:
        audit = self.grounding.audit
        return {
            "X-Grounding-Request-Id": self.grounding.request_id,
            "X-Grounding-Audit-Sampled": str(audit.sampled).lower(),
            "X-Grounding-Audit-Reason": audit.reason,
        }


PIECE = re.compile(r"\s*\S+|\s+")


def sse_chunks(completed: Completed, *, include_usage: bool) -> Iterator[str]:
    """The answer as ``chat.completion.chunk`` server-sent events, then ``[DONE]``.

    The engine batches whole answers, so the text is ready when the first chunk is sent; it is
    split into word pieces so that streaming clients see the usual sequence of deltas."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
        body = {
            "id": completed.completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": completed.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""}, None)
    for piece in PIECE.findall(completed.text):
        yield chunk({"content": piece}, None)
    yield chunk({}, completed.finish_reason, grounding=completed.grounding.model_dump())
    if include_usage:
        usage = {
            "id": completed.completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": completed.model,
            "choices": [],
            "usage": completed.usage().model_dump(),
        }
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


def error_body(status_code: int, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status_code, "server_error"),
            "param": param,
            "code": status_code,
        }
    }
