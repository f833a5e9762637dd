"""Reading request bodies: JSON with base64 images or multipart uploads; every refusal is a
``service.errors.ServiceError`` with a clear message."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from service.errors import InvalidInput, MalformedInput, PayloadTooLarge

ModelT = TypeVar("ModelT", bound=BaseModel)

MULTIPART_OVERHEAD = 64 * 1024


async def read_body_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def body_limit(max_image_bytes: int, images: int = 1) -> int:
    """Base64 grows data by 4/3; leave room for the other fields."""
    return images * (max_image_bytes * 4 // 3 + 4) + MULTIPART_OVERHEAD


def decode_base64(value: str, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"`{field}` is not valid base64: {exc}") from exc


def validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_json_model(raw: bytes, model: type[ModelT]) -> ModelT:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("the body is not valid UTF-8 JSON") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedInput(f"malformed JSON: {exc.msg} at position {exc.pos}") from exc
    except RecursionError as exc:
        raise MalformedInput("the JSON body is nested too deeply") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from exc


async def read_multipart(request: Request, limit: int) -> tuple[dict[str, bytes], dict[str, str]]:
    """Files and text fields of a multipart form, the body capped at ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is {declared} bytes; the limit is {limit}")
    try:
        form = await request.form(max_files=4, max_fields=16, max_part_size=limit)
    except HTTPException:
        raise
    except Exception as exc:
        raise MalformedInput(f"malformed multipart body: {exc}") from exc
    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            fields[key] = value
        else:
            data = await value.read()
            if len(data) > limit:
                raise PayloadTooLarge(f"the file `{key}` exceeds the limit of {limit} bytes")
            files[key] = data
    await form.close()
    return files, fields


def form_to_model(fields: dict[str, str], model: type[ModelT], json_fields: set[str]) -> ModelT:
    data: dict[str, Any] = {}
    for key, value in fields.items():
        if key in json_fields:
            try:
                data[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"`{key}` must be JSON: {exc.msg}") from exc
            except RecursionError as exc:
                raise InvalidInput(f"`{key}` is nested too deeply") from exc
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from exc


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with local $refs resolved, for an OpenAPI requestBody."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.split("/")[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)
