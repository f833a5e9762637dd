"""HTTP request and response schemas (pydantic); they are the OpenAPI document's components."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from audits.contracts.types import Condition

OPTION_LETTER = r"^[A-E]$"
MODALITY = r"^[A-Za-z]{1,16}$"

FRAME_FIELD = Field(
    None, ge=0, description="Frame of a multi-frame DICOM image (from 0); default: the middle one"
)
MODALITY_FIELD = Field(
    None,
    pattern=MODALITY,
    description="Imaging modality (CT, MR, CR, DX, US, MG, PT, NM, XA; anything else counts as "
    "other); default: the DICOM header's, else unknown",
)


def _encodable(text: str) -> str:
    """JSON can escape an unpaired surrogate (\\ud800); no tokenizer or hash accepts one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an unpaired UTF-16 surrogate at position {exc.start}; send valid Unicode"
        ) from exc
    return text


Text = Annotated[str, AfterValidator(_encodable)]
"""A string from a client that must be valid Unicode (it reaches the tokenizer or an HMAC)."""


class PredictJSON(BaseModel):
    """JSON form of POST /predict; the multipart form has the same fields with a file `image`."""

    model_config = ConfigDict(extra="forbid")

    image_base64: str = Field(
        ..., min_length=1, description="The image file (PNG, JPEG, ..., DICOM), base64-encoded"
    )
    question: Text = Field(..., description="The question about the image")
    frame: int | None = FRAME_FIELD
    modality: str | None = MODALITY_FIELD
    audit: bool | None = Field(
        None, description="true forces a counterfactual audit, false forbids one; unset: sampled"
    )
    request_id: str | None = Field(
        None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$"
    )
    options: dict[Text, Text] | None = Field(
        None, description='Closed-question options, e.g. {"A": "yes", "B": "no"}'
    )


class AuditDecision(BaseModel):
    sampled: bool
    queued: bool
    reason: str = Field(description="forced | sampled | not_sampled | disabled | dropped")


class PredictResponse(BaseModel):
    request_id: str
    model: str
    answer: str = Field(description="The final answer parsed from the output")
    raw_output: str
    audit: AuditDecision


class AuditJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_base64: str = Field(..., min_length=1)
    question: Text
    frame: int | None = FRAME_FIELD
    modality: str | None = MODALITY_FIELD
    reference_answer: Text | None = None
    options: dict[Text, Text] | None = None
    mode: Literal["generate", "score", "both"] = "both"
    conditions: list[Condition] | None = Field(
        None,
        description="Conditions to run beside the real one: shuffled, blank, no_image, flipped "
        "(the image mirrored left-right); default: GROUNDING_AUDIT_CONDITIONS",
    )
    shuffled_image_base64: str | None = Field(
        None, description="Image for the shuffled condition; default: one from the pool"
    )


class FeedbackJSON(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    reference_answer: Text = Field(..., min_length=1)


class FeedbackResponse(BaseModel):
    request_id: str
    correct: dict[Condition, bool]


class ErrorResponse(BaseModel):
    detail: str
