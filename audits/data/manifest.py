"""The data-set manifest (JSONL, DESIGN.md section 4): one question about one image per line.

Fields: ``id``, ``image`` (path relative to the manifest's folder), ``question``, ``answer``,
optional ``options`` ({"A": "...", ...}), ``answer_set`` (the admissible answers of a closed
question without letters), ``benchmark``, ``modality``. Reading resolves ``image``
to an absolute path; writing stores it relative to the manifest's folder again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

ModelT = TypeVar("ModelT", bound=BaseModel)


def scalar_to_str(value: object) -> object:
    """VQA-RAD and friends store numeric answers ("2") and ids as JSON numbers."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return value


def options_to_str(value: object) -> object:
    if isinstance(value, dict):
        return {str(k).strip(): str(v) for k, v in value.items()}
    return value


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    image: str
    question: str
    answer: str
    options: dict[str, str] | None = None
    answer_set: list[str] | None = None
    """The admissible answers of a closed question without letters (e.g. a modality list):
    an output naming none of them has no answer (``<unparsed>``)."""
    benchmark: str = "default"
    modality: str | None = None

    _scalar_to_str = field_validator("id", "answer", mode="before")(scalar_to_str)
    _options_to_str = field_validator("options", mode="before")(options_to_str)

    @field_validator("id", "image", "question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


def _line_error(path: Path, lineno: int, problem: str) -> ValueError:
    return ValueError(f"{path}:{lineno}: {problem}")


def read_manifest(path: str | Path) -> list[ManifestItem]:
    """Every item of a manifest, image paths resolved against the manifest's folder.

    Blank lines are skipped. A line that is not a JSON object, misses a field or repeats an id
    raises ``ValueError`` naming the file and line.
    """
    path = Path(path)
    base = path.resolve().parent
    items: list[ManifestItem] = []
    seen: dict[str, int] = {}
    for lineno, item in read_jsonl_models(path, ManifestItem):
        if item.id in seen:
            raise _line_error(path, lineno, f"duplicate id {item.id!r} (line {seen[item.id]})")
        seen[item.id] = lineno
        image = Path(item.image).expanduser()
        resolved = image if image.is_absolute() else base / image
        items.append(item.model_copy(update={"image": str(resolved.resolve())}))
    return items


def read_jsonl_models(path: Path, model: type[ModelT]) -> Iterator[tuple[int, ModelT]]:
    """(line number, validated row) for every non-blank line of a JSONL file.

    A line that is not a JSON object or does not validate raises ``ValueError`` naming the file
    and line.
    """
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _line_error(path, lineno, f"not valid JSON ({exc.msg})") from None
            if not isinstance(raw, dict):
                raise _line_error(path, lineno, "expected a JSON object")
            try:
                yield lineno, model.model_validate(raw)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()
                )
                raise _line_error(path, lineno, problems) from None


def _relative_image(image: str, base: Path) -> str:
    resolved = Path(image).expanduser()
    if not resolved.is_absolute():
        return Path(image).as_posix()
    try:
        return Path(os.path.relpath(resolved.resolve(), base)).as_posix()
    except ValueError:  # another drive on Windows
        return str(resolved)


def write_manifest(path: str | Path, items: Iterable[ManifestItem]) -> Path:
    """Write ``items`` as JSONL; absolute image paths become relative to the manifest's folder.

    Relative image paths are written unchanged (they are taken as relative to the manifest).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            row = item.model_dump(exclude_none=True)
            row["image"] = _relative_image(item.image, base)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
