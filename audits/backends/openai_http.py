"""A ``VLMBackend`` over any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, this
service's own ``/v1``).

Each item is one ``POST {base}/chat/completions`` with the image as a PNG ``data:`` URI (none
for the no_image condition); a batch goes out concurrently, at most ``concurrency`` requests in
flight. 429, 500 and 502-504 answers, timeouts and connection failures are retried up to
``max_retries`` times with exponential backoff (honouring ``Retry-After``); 0 retries sends
each request once. Fields in ``extra_body`` (e.g. vLLM's ``priority``) go into every request.

Scoring (teacher-forced log-probability of an answer) needs prompt log-probabilities, a vLLM
extension: the answer is sent as a final assistant message continued in place
(``continue_final_message``) with ``prompt_logprobs: 0``, and the log-probabilities of the
prompt tokens after the question's own prompt length are summed. ``supports_scoring()`` asks the
server once whether it returns them (on the first read of ``capabilities``); a client built with
``scoring=False`` (production, which never scores) asks nothing.

Plain ``httpx``, not the ``openai`` package: the requests carry server extensions
(``priority``, ``prompt_logprobs``, ``continue_final_message``) and read fields
(``prompt_logprobs``) that the official client does not model, and the offline runner and the
service then need no further dependency.
"""

from __future__ import annotations

import base64
import email.utils
import io
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from PIL import Image

from audits.contracts.backend import (
    BackendBase,
    BackendCapabilities,
    Generation,
    GenerationParams,
    VLMInput,
)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class UpstreamError(RuntimeError):
    """The server refused or failed a request (not retried, or retries ran out)."""

    def __init__(self, message: str, *, status: int | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.timeout = timeout


def api_base(url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1`` both mean ``http://host:8000/v1``."""
    base = url.rstrip("/")
    return base if base.endswith("/v1") else f"{base}/v1"


def png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(item: VLMInput, answer: str | None = None) -> list[dict[str, Any]]:
    """The user turn [image?, question]; an assistant turn with the prefill (plus ``answer``)
    when there is one to continue."""
    content: list[dict[str, Any]] = []
    if item.image is not None:
        content.append({"type": "image_url", "image_url": {"url": png_data_uri(item.image)}})
    content.append({"type": "text", "text": item.question})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    assistant = item.prefill + (answer or "")
    if assistant:
        messages.append({"role": "assistant", "content": assistant})
    return messages


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed is None:
            return None
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:300]


class OpenAIBackend(BackendBase):
    """Generate (and, where the server allows, score) through an OpenAI-compatible server."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 600.0,
        max_retries: int = 4,
        max_new_tokens: int = 128,
        extra_body: Mapping[str, Any] | None = None,
        backoff_s: float = 0.5,
        client: httpx.Client | None = None,
        on_retry: Callable[[], None] | None = None,
        scoring: bool | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.base = api_base(url)
        self.max_new_tokens = max_new_tokens
        self.max_retries = max(0, max_retries)
        self.extra_body = dict(extra_body or {})
        self.backoff_s = backoff_s
        self.on_retry = on_retry or (lambda: None)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._headers = headers
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai")
        self._scoring = scoring
        """Whether the server returns prompt log-probabilities; None until asked."""
        self._lock = threading.Lock()
        self.model_name = model or self.served_models()[0]

    # -- discovery -------------------------------------------------------------------------
    def served_models(self) -> list[str]:
        response = self._send("GET", "/models", None, retries=self.max_retries)
        ids = [entry["id"] for entry in response.get("data", [])]
        if not ids:
            raise UpstreamError(f"{self.base}/models lists no model")
        return ids

    def supports_scoring(self) -> bool:
        """Whether the server returns prompt log-probabilities (vLLM's ``prompt_logprobs``)."""
        with self._lock:
            if self._scoring is None:
                probe = {
                    "model": self.model_name,
                    "messages": [{"role": "user", "content": "ping"}],
                    "max_tokens": 1,
                    "temperature": 0,
                    "prompt_logprobs": 0,
                    **self.extra_body,
                }
                try:
                    body = self._send("POST", "/chat/completions", probe, retries=1)
                    self._scoring = isinstance(body.get("prompt_logprobs"), list)
                except UpstreamError as exc:
                    log.info("prompt log-probabilities unavailable: %s", exc)
                    self._scoring = False
            return self._scoring

    # -- the backend protocol --------------------------------------------------------------
    @property
    def capabilities(self) -> BackendCapabilities:
        """Requests overlap and may carry a priority; scoring where the server returns prompt
        log-probabilities."""
        return BackendCapabilities(score=self.supports_scoring(), concurrent=True, priority=True)

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        params = GenerationParams(max_new_tokens, temperature, seed)
        return [g.text for g in self.generate_detailed(items, params)]

    def generate_detailed(
        self, items: Sequence[VLMInput], params: GenerationParams
    ) -> list[Generation]:
        return list(self._pool.map(lambda item: self._generate_one(item, params), items))

    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        if len(items) != len(answers):
            raise ValueError("score needs one answer per item")
        if not self.supports_scoring():
            raise UpstreamError(
                f"{self.base} returns no prompt log-probabilities, so score mode cannot run "
                "there; use generate mode (vLLM returns them: prompt_logprobs)"
            )
        prompt_lengths: dict[tuple[int, str, str], int] = {}
        for item in items:
            key = (id(item.image), item.question, item.prefill)
            if key not in prompt_lengths:
                prompt_lengths[key] = -1
        keys = list(prompt_lengths)
        by_key = {(id(i.image), i.question, i.prefill): i for i in items}
        for key, length in zip(
            keys, self._pool.map(lambda k: self._prompt_length(by_key[k]), keys), strict=True
        ):
            prompt_lengths[key] = length

        def one(pair: tuple[VLMInput, str]) -> float:
            item, answer = pair
            return self._answer_logprob(
                item, answer, prompt_lengths[(id(item.image), item.question, item.prefill)]
            )

        return list(self._pool.map(one, zip(items, answers, strict=True)))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self.client.close()

    # -- requests --------------------------------------------------------------------------
    def _body(self, item: VLMInput, params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": chat_messages(item),
            "max_tokens": params.max_new_tokens or self.max_new_tokens,
            "temperature": params.temperature,
            **self.extra_body,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if item.prefill:
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _generate_one(self, item: VLMInput, params: GenerationParams) -> Generation:
        body = self._send("POST", "/chat/completions", self._body(item, params))
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise UpstreamError(f"the server's answer has no choices[0].message: {exc}") from exc
        usage = body.get("usage") or {}
        return Generation(
            text=text,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def _prompt_length(self, item: VLMInput) -> int:
        body = self._body(item, GenerationParams(max_new_tokens=1))
        usage = self._send("POST", "/chat/completions", body).get("usage") or {}
        if "prompt_tokens" not in usage:
            raise UpstreamError("the server's answer has no usage.prompt_tokens")
        return int(usage["prompt_tokens"])

    def _answer_logprob(self, item: VLMInput, answer: str, prompt_length: int) -> float:
        body = self._body(item, GenerationParams(max_new_tokens=1))
        body.update(
            messages=chat_messages(item, answer),
            continue_final_message=True,
            add_generation_prompt=False,
            prompt_logprobs=0,
        )
        positions = self._send("POST", "/chat/completions", body).get("prompt_logprobs")
        if not isinstance(positions, list):
            raise UpstreamError("the server returned no prompt_logprobs for a score request")
        total = 0.0
        for entry in positions[prompt_length:]:
            if not entry:
                continue
            first = next(iter(entry.values()))
            total += float(first["logprob"] if isinstance(first, dict) else first)
        return total

    def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, *, retries: int | None = None
    ) -> dict[str, Any]:
        retries = self.max_retries if retries is None else retries
        url = f"{self.base}{path}"
        attempt = 0
        while True:
            wait: float | None = None
            try:
                response = self.client.request(method, url, json=body, headers=self._headers)
            except httpx.TimeoutException as exc:
                if attempt >= retries:
                    raise UpstreamError(f"{url} did not answer in time", timeout=True) from exc
            except httpx.TransportError as exc:
                if attempt >= retries:
                    raise UpstreamError(f"{url} is unreachable: {exc}") from exc
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise UpstreamError(f"{url} answered with no JSON body") from exc
                if response.status_code not in RETRY_STATUS or attempt >= retries:
                    raise UpstreamError(
                        f"{url} answered {response.status_code}: {_error_message(response)}",
                        status=response.status_code,
                    )
                wait = _retry_after(response)
            attempt += 1
            self.on_retry()
            backoff = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
            time.sleep(min(30.0, wait if wait is not None else backoff))
