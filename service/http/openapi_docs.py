"""What the OpenAPI document (``/docs.json``) says of the routes beyond their models: request
bodies that are JSON or the equivalent multipart form, the error responses, the API-key
security."""

from __future__ import annotations

from typing import Any

from service.http.http_io import inline_schema
from service.http.interfaces import AuditJSON, ErrorResponse, PredictJSON
from service.http.openai_api import ChatCompletionRequest

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422, 429, 503)
}


def _request_body(model: type[PredictJSON] | type[AuditJSON], form: dict[str, Any]) -> dict:
    """An OpenAPI requestBody accepting the JSON model or the equivalent multipart form."""
    multipart = {"type": "object", "properties": form, "required": ["image", "question"]}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": inline_schema(model)},
                "multipart/form-data": {"schema": multipart},
            },
        }
    }


FILE = {"type": "string", "format": "binary"}
TEXT = {"type": "string"}
PREDICT_BODY = _request_body(
    PredictJSON,
    {
        "image": FILE,
        "question": TEXT,
        "audit": {"type": "boolean"},
        "request_id": TEXT,
        "options": {"type": "string", "description": "JSON object"},
        "frame": {"type": "integer", "minimum": 0},
        "modality": TEXT,
    },
)
AUDIT_BODY = _request_body(
    AuditJSON,
    {
        "image": FILE,
        "shuffled_image": FILE,
        "question": TEXT,
        "reference_answer": TEXT,
        "options": {"type": "string", "description": "JSON object"},
        "mode": {"type": "string", "enum": ["generate", "score", "both"]},
        "conditions": {"type": "string", "description": "JSON list"},
        "frame": {"type": "integer", "minimum": 0},
        "modality": TEXT,
    },
)
AUTH = {"security": [{"bearer": []}, {"apiKey": []}]}
CHAT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inline_schema(ChatCompletionRequest)}},
    }
}
OPENAI_ERROR = {
    "description": "OpenAI-style error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "object"}},
                "required": ["error"],
            }
        }
    },
}
