"""The BentoML service: production /predict with mirrored audits, and the audit API.

Routes are a FastAPI app mounted on the BentoML service (BentoML merges its OpenAPI document
into /docs.json and keeps /livez, /readyz and /metrics).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bentoml
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from audits.backends.processor import UnsupportedCheckpoint
from audits.contracts.audit_record import StoredAuditRecord
from audits.contracts.backend import GenerationParams
from audits.contracts.http import AuditReport, StoredAudit
from service.core import GroundingCore
from service.errors import InvalidInput, NotFound, UnsupportedMediaType
from service.http.auth import AccessEntry, log_access, require_key
from service.http.deadlines import install_header_deadline
from service.http.errors import install_error_handlers, openai_response, status_of
from service.http.exposure import refusal, served_host
from service.http.http_io import (
    body_limit,
    decode_base64,
    form_to_model,
    is_json,
    is_multipart,
    parse_json_model,
    read_body_capped,
    read_multipart,
)
from service.http.imaging import decode_image
from service.http.interfaces import (
    AuditJSON,
    FeedbackJSON,
    FeedbackResponse,
    PredictJSON,
    PredictResponse,
)
from service.http.limits import InFlightLimit
from service.http.openai_api import (
    ChatCompletion,
    ChatCompletionRequest,
    Completed,
    GroundingInfo,
    ModelCard,
    ModelList,
    chat_input,
    sse_chunks,
)
from service.http.openapi_docs import (
    AUDIT_BODY,
    AUTH,
    CHAT_BODY,
    ERRORS,
    OPENAI_ERROR,
    PREDICT_BODY,
)
from service.http.route_labels import label_bentoml_metrics_by_route
from service.http.upload_budget import UploadBudget
from service.requests import ProductionRequest
from service.settings import get_settings
from service.startup import CHECK_MODEL_HINT, checkpoint_problem
from service.telemetry.multiproc import bentoml_shared_dir, prepare_instance_dir
from service.telemetry.verdict import StatsView

log = logging.getLogger(__name__)
SETTINGS = get_settings()


def configure_logging() -> None:
    """The project's loggers (audits, access log) print at INFO beside BentoML's own."""
    for name in ("grounding", "service"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s [%(levelname)s] %(name)s %(message)s")
            )
            logger.addHandler(handler)
            logger.propagate = False


app = FastAPI(
    title="Grounding audit service",
    version="0.1.0",
    description="Serves a vision-language model and audits whether its answers use the image.",
)
BODY_LIMITS = {
    "/predict": body_limit(SETTINGS.limits.max_image_bytes, 1),
    "/audit": body_limit(SETTINGS.limits.max_image_bytes, 2),
    "/v1/chat/completions": body_limit(SETTINGS.limits.max_image_bytes, 1),
}
app.add_middleware(
    InFlightLimit,
    limit=SETTINGS.limits.max_concurrency,
    body_limits=BODY_LIMITS,
    body_timeout_s=SETTINGS.limits.body_timeout_s,
    upload_budget=UploadBudget(
        max(SETTINGS.limits.upload_buffer_bytes, max(BODY_LIMITS.values())),
        max(SETTINGS.limits.upload_buffer_bytes_per_client, max(BODY_LIMITS.values())),
    ),
    retry_after_s=1,
)
install_header_deadline(SETTINGS.limits.header_timeout_s)
install_error_handlers(app)


async def _read_input(
    request: Request, model: type[PredictJSON] | type[AuditJSON], images: int
) -> tuple[Any, bytes, bytes | None]:
    """The validated fields, the image bytes and an optional second (shuffled) image."""
    limit = body_limit(SETTINGS.limits.max_image_bytes, images)
    if is_json(request):
        parsed = parse_json_model(await read_body_capped(request, limit), model)
        image = decode_base64(parsed.image_base64, "image_base64")
        second = getattr(parsed, "shuffled_image_base64", None)
        return parsed, image, decode_base64(second, "shuffled_image_base64") if second else None
    if is_multipart(request):
        files, fields = await read_multipart(request, limit)
        if "image" not in files:
            raise InvalidInput("the multipart form needs a file field `image`")
        fields["image_base64"] = "-"
        parsed = form_to_model(fields, model, json_fields={"options", "conditions", "audit"})
        return parsed, files["image"], files.get("shuffled_image")
    raise UnsupportedMediaType(
        "send application/json (image_base64) or multipart/form-data (file `image`)"
    )


@contextmanager
def access_logged(who: str, endpoint: str, request_id: str | None = None) -> Iterator[AccessEntry]:
    """One access-log line per authenticated call, with the status it ended with."""
    entry = AccessEntry(who, endpoint, request_id)
    try:
        yield entry
    except BaseException as exc:
        entry.status = status_of(exc)
        raise
    finally:
        log_access(entry.who, entry.endpoint, entry.status, entry.request_id)


def stop_serve_process() -> None:
    """SIGTERM to the `bentoml serve` process that started this worker (and only to it)."""
    parent = os.getppid()
    try:
        command = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return
    if b"bentoml" in command or b"_bentoml_impl" in command:
        os.kill(parent, signal.SIGTERM)


@bentoml.service(
    name="grounding_audit",
    workers=SETTINGS.server.workers,
    traffic={"timeout": int(SETTINGS.limits.request_timeout_s) + 5},
)
@bentoml.asgi_app(app, path="/")
class GroundingService:
    @bentoml.on_deployment
    def prepare_instance() -> None:  # type: ignore[misc]
        """In the `bentoml serve` process, once, before any worker starts: refuse a reachable
        address with public secrets; give this instance its own metrics folder."""
        reason = refusal(SETTINGS, served_host()) or checkpoint_problem(SETTINGS)
        if reason is not None:
            raise SystemExit(reason)
        prepare_instance_dir(bentoml_shared_dir())

    def __init__(self) -> None:
        configure_logging()
        try:
            self.core = GroundingCore(SETTINGS)
        except (UnsupportedCheckpoint, OSError, ValueError) as exc:
            # BentoML would restart a worker that fails here, forever: stop the whole service
            log.error("cannot serve: %s; %s; stopping the service", exc, CHECK_MODEL_HINT)
            stop_serve_process()
            raise SystemExit(2) from None
        self.started = int(time.time())

    @bentoml.on_shutdown
    def drain(self) -> None:
        dropped = self.core.shutdown()
        log.info("engine stopped; %d queued audits dropped", dropped)

    def _production_request(self, parsed: Any, image: bytes) -> ProductionRequest:
        return self.core.build_request(
            image,
            parsed.question,
            options=parsed.options,
            request_id=getattr(parsed, "request_id", None),
            audit=getattr(parsed, "audit", None),
            frame=parsed.frame,
            modality=parsed.modality,
        )

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=ERRORS,
        openapi_extra=PREDICT_BODY,
        summary="Answer a question about an image (production path)",
    )
    async def predict(self, request: Request, background: BackgroundTasks) -> PredictResponse:
        if SETTINGS.security.predict_requires_key:
            require_key(request, SETTINGS.security.api_keys)
        parsed, image, _ = await _read_input(request, PredictJSON, images=1)
        production = self._production_request(parsed, image)
        response = await self.core.predict(production)
        background.add_task(self.core.after_response, production, response)
        return response

    @app.post(
        "/audit",
        response_model=AuditReport,
        responses=ERRORS,
        openapi_extra={**AUDIT_BODY, **AUTH},
        summary="Full counterfactual report for one image and question",
    )
    async def audit(self, request: Request) -> AuditReport:
        who = require_key(request, SETTINGS.security.api_keys)
        with access_logged(who, "POST /audit") as access:
            parsed, image, second = await _read_input(request, AuditJSON, images=2)
            production = self._production_request(parsed, image)
            access.request_id = production.request_id
            shuffled = decode_image(second, self.core.limits) if second else None
            return await self.core.audit(
                production,
                mode=parsed.mode,
                conditions=parsed.conditions,
                reference=parsed.reference_answer,
                shuffled_image=shuffled,
            )

    @app.get(
        "/audits/{request_id}",
        response_model=StoredAudit,
        responses=ERRORS,
        openapi_extra=AUTH,
        summary="The stored audit record of a mirrored request",
    )
    async def get_audit(self, request: Request, request_id: str) -> StoredAudit:
        who = require_key(request, SETTINGS.security.api_keys)
        with access_logged(who, "GET /audits/{request_id}", request_id):
            record = await self.core.stored_record(request_id)
            return StoredAudit(
                request_id=request_id, record=StoredAuditRecord.from_redis_fields(record)
            )

    @app.post(
        "/feedback",
        response_model=FeedbackResponse,
        responses=ERRORS,
        openapi_extra=AUTH,
        summary="Attach a reference answer to a past request",
    )
    async def feedback(self, request: Request) -> FeedbackResponse:
        who = require_key(request, SETTINGS.security.api_keys)
        with access_logged(who, "POST /feedback") as access:
            parsed = parse_json_model(await read_body_capped(request, 64 * 1024), FeedbackJSON)
            access.request_id = parsed.request_id
            correct = await self.core.add_feedback(parsed.request_id, parsed.reference_answer)
            return FeedbackResponse(request_id=parsed.request_id, correct=correct)

    @app.get("/stats", summary="Verdict, rolling grounding figures, drift state and counts")
    async def stats(self, view: StatsView = "full") -> dict[str, Any]:
        """``view=summary``: the verdict (healthy / degraded / insufficient_data, with reasons)
        and each window's IS, IS_blank, HVRR and claim rate on one line each."""
        return await self.core.stats(view)

    @app.get("/v1/models", response_model=ModelList, summary="OpenAI-compatible: served model")
    async def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=self.core.model, created=self.started)])

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={code: OPENAI_ERROR for code in (400, 401, 404, 413, 415, 503)},
        openapi_extra=CHAT_BODY,
        summary="OpenAI-compatible chat completion (production path, mirrored like /predict)",
    )
    async def chat_completions(self, request: Request, background: BackgroundTasks) -> Response:
        try:
            if SETTINGS.security.predict_requires_key:
                require_key(request, SETTINGS.security.api_keys)
            if not is_json(request):
                raise UnsupportedMediaType("send the chat request as application/json")
            limit = body_limit(SETTINGS.limits.max_image_bytes, 1)
            body = parse_json_model(await read_body_capped(request, limit), ChatCompletionRequest)
            if body.model != self.core.model:
                raise NotFound(
                    f"the model `{body.model}` does not exist; this service serves "
                    f"`{self.core.model}` (GET /v1/models)",
                    field="model",
                )
            chat = chat_input(body)
            production = self.core.build_request(
                chat.image,
                chat.question,
                options=body.options,
                request_id=body.request_id,
                audit=body.audit,
                params=self._decoding(body),
            )
            response, generation = await self.core.answer(production)
        except Exception as exc:
            return openai_response(exc)
        background.add_task(self.core.after_response, production, response)
        completed = Completed(
            model=self.core.model,
            text=generation.text,
            finish_reason=generation.finish_reason,
            prompt_tokens=generation.prompt_tokens or 0,
            completion_tokens=generation.completion_tokens or 0,
            grounding=GroundingInfo(
                request_id=response.request_id, answer=response.answer, audit=response.audit
            ),
        )
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                sse_chunks(completed, include_usage=include_usage),
                media_type="text/event-stream",
                headers={**completed.headers(), "Cache-Control": "no-cache"},
            )
        return JSONResponse(completed.body().model_dump(), headers=completed.headers())

    @staticmethod
    def _decoding(body: ChatCompletionRequest) -> GenerationParams:
        """The request's decoding; the configured budget when unset, capped by the limit."""
        budget = body.token_budget
        if budget is not None:
            budget = min(budget, SETTINGS.model.max_completion_tokens)
            if budget == SETTINGS.model.max_new_tokens:
                budget = None
        return GenerationParams(
            max_new_tokens=budget, temperature=body.temperature or 0.0, seed=body.seed
        )


# after every route above is declared: /metrics labels requests by these routes' templates
label_bentoml_metrics_by_route(app.routes)
