"""One request as the core takes it: the question and options checked, the upload decoded, an
id given (``RequestReader``). Every refusal is a ``service.errors`` error."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import regex
from PIL import Image

from audits.contracts.backend import GenerationParams
from audits.data.dicom import Window, normalize_modality
from service.errors import InvalidInput
from service.http.imaging import ImageLimits, decode_upload
from service.identity import new_request_id, pixels_id
from service.settings import Settings

INVISIBLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
"""Code points with no visible rendering: zero-width and bidi marks, variation selectors, the
combining grapheme joiner, and the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0)."""
WORDLIKE = regex.compile(r"[\p{L}\p{N}]")


def has_content(question: str) -> bool:
    """Whether a question holds a letter or a digit once invisible code points are set aside:
    one of spaces, symbols (U+2800 braille blank, U+FFFC object replacement), punctuation and
    default-ignorable code points (Unicode properties, not a list) asks nothing."""
    return WORDLIKE.search(INVISIBLE.sub("", question)) is not None


@dataclass(frozen=True)
class ProductionRequest:
    image: Image.Image | None
    """None for a text-only chat request: answered, never audited (nothing to vary)."""
    image_id: str | None
    question: str
    options: dict[str, str] | None
    request_id: str
    audit: bool | None
    params: GenerationParams = field(default_factory=GenerationParams)
    """Decoding asked for by the client (OpenAI ``max_tokens``, ``temperature``)."""
    modality: str = "unknown"
    """Low-cardinality label (``audits.data.dicom.MODALITY_LABELS``)."""

    @property
    def greedy_at_default_length(self) -> bool:
        """Whether the production output is what an audit's own real condition would produce
        (greedy, the configured token budget): then the audit reuses it."""
        return self.params.temperature == 0 and self.params.max_new_tokens is None


class RequestReader:
    """Checks and decodes requests within the configured limits."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = ImageLimits(
            settings.limits.max_image_bytes,
            settings.limits.max_image_pixels,
            dicom_windows={
                modality: Window(center, width)
                for modality, (center, width) in settings.limits.dicom_default_windows.items()
            },
        )

    def check_question(self, question: str) -> str:
        cleaned = question.strip()
        if not has_content(cleaned):
            raise InvalidInput(
                "the question is empty (nothing but spaces, symbols or invisible and filler "
                "characters); ask something about the image in words",
            )
        if len(cleaned) > self.settings.limits.max_question_chars:
            raise InvalidInput(
                f"the question has {len(cleaned)} characters; the limit is "
                f"{self.settings.limits.max_question_chars}",
            )
        if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in cleaned):
            raise InvalidInput(
                "the question contains control characters (C0, DEL or C1); remove them"
            )
        return cleaned

    def check_options(self, options: Mapping[str, str] | None) -> dict[str, str] | None:
        if not options:
            return None
        bad = [key for key in options if key not in ("A", "B", "C", "D", "E")]
        if bad:
            raise InvalidInput(f"option keys must be letters A-E, got {bad}")
        too_long = [k for k, v in options.items() if len(v) > self.settings.limits.max_answer_chars]
        if too_long:
            raise InvalidInput(f"options {too_long} are longer than the answer limit")
        return dict(options)

    def build(
        self,
        image_bytes: bytes | None,
        question: str,
        *,
        options: Mapping[str, str] | None = None,
        request_id: str | None = None,
        audit: bool | None = None,
        params: GenerationParams | None = None,
        frame: int | None = None,
        modality: str | None = None,
    ) -> ProductionRequest:
        """Checks and decodes one request; ``modality`` (a client's) overrides a DICOM header's."""
        checked_question = self.check_question(question)
        checked_options = self.check_options(options)
        secret = self.settings.security.hmac_key
        decoded = (
            None if image_bytes is None else decode_upload(image_bytes, self.limits, frame=frame)
        )
        return ProductionRequest(
            image=None if decoded is None else decoded.image,
            image_id=None if decoded is None else pixels_id(decoded.image, secret),
            question=checked_question,
            options=checked_options,
            request_id=request_id or new_request_id(),
            audit=audit,
            params=params or GenerationParams(),
            modality=normalize_modality(modality)
            if modality
            else (decoded.modality if decoded is not None else "unknown"),
        )
