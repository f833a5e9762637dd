"""What every converter shares: options, record loading, split filtering, images."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

FORMATS = ("vqa-rad", "slake", "pathvqa", "pmc-vqa", "medvlthinker")
SPLITS = ("test", "train", "validation", "all")
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class ConvertOptions:
    input: Path
    out: Path
    images_dir: Path | None = None
    split: str = "test"


# --- record loading -------------------------------------------------------------------------


def _load_records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        records = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        return records
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data = data.get("data", data.get("rows"))
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records")
        return data
    if suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                f"{path}: reading parquet needs pyarrow (pip install pyarrow), "
                "or export the split to JSONL first"
            ) from None
        return pq.read_table(path).to_pylist()
    raise ValueError(f"{path}: unsupported file type {suffix!r} (jsonl, json, csv, parquet)")


def _split_files(folder: Path, split: str, suffixes: tuple[str, ...]) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if split != "all":
        names = {"validation": ("validation", "validate", "val")}.get(split, (split,))
        files = [p for p in files if any(n in p.name.lower() for n in names)]
    if not files:
        raise ValueError(f"{folder}: no {'/'.join(suffixes)} file for split {split!r}")
    return files


def _records_from(
    opts: ConvertOptions, suffixes: tuple[str, ...]
) -> Iterator[tuple[Path, dict[str, Any]]]:
    files = _split_files(opts.input, opts.split, suffixes) if opts.input.is_dir() else [opts.input]
    for path in files:
        for record in _load_records(path):
            if not isinstance(record, dict):
                raise ValueError(f"{path}: expected records to be objects")
            yield path, record


def _keep_split(record: Mapping[str, Any], split: str) -> bool:
    value = record.get("split")
    if split == "all" or value in (None, ""):
        return True
    return str(value).lower() in {"validation": ("validation", "validate", "val")}.get(
        split, (split,)
    )


# --- images ---------------------------------------------------------------------------------


def _decode_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return bytes(value)
    if isinstance(value, str) and len(value) >= 16:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _is_image(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)):
            return True
    except (UnidentifiedImageError, OSError):
        return False


def _image_extension(data: bytes, where: str) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = (image.format or "png").lower()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{where}: embedded image cannot be decoded ({exc})") from None
    return {"jpeg": "jpg"}.get(fmt, fmt)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "item"


def _resolve_path(name: str, search: list[Path]) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_absolute():
        return candidate
    for folder in search:
        if (folder / candidate).exists():
            return (folder / candidate).resolve()
    return (search[0] / candidate).resolve()


def _materialize_image(
    value: Any, item_id: str, images_out: Path, search: list[Path], where: str
) -> str:
    """A path to the item's image: an existing file, or embedded bytes written out."""
    if isinstance(value, list):
        if not value:
            raise ValueError(f"{where}: empty image list")
        value = value[0]
    if isinstance(value, dict):
        data = _decode_bytes(value.get("bytes"))
        if data is None and value.get("path"):
            return str(_resolve_path(str(value["path"]), search))
    elif isinstance(value, str):
        path = _resolve_path(value, search)
        data = None if path.exists() else _decode_bytes(value)
        if data is None or not _is_image(data):
            return str(path)
    else:
        data = _decode_bytes(value)
    if data is None:
        raise ValueError(f"{where}: no usable image (need a path or image bytes)")
    images_out.mkdir(parents=True, exist_ok=True)
    target = images_out / f"{_safe_name(item_id)}.{_image_extension(data, where)}"
    target.write_bytes(data)
    return str(target.resolve())


def _unique_id(base: str, seen: set[str]) -> str:
    candidate, n = base, 2
    while candidate in seen:
        candidate, n = f"{base}-{n}", n + 1
    seen.add(candidate)
    return candidate


def _text(record: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = record.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _require(record: Mapping[str, Any], where: str, *keys: str) -> str:
    value = _text(record, *keys)
    if value is None:
        raise ValueError(f"{where}: missing {' / '.join(keys)}")
    return value


def _default_images_out(opts: ConvertOptions, name: str) -> Path:
    return opts.images_dir or opts.out.resolve().parent / "images" / name


# --- formats --------------------------------------------------------------------------------


def _find_file(opts: ConvertOptions, names: tuple[str, ...]) -> Path:
    if not opts.input.is_dir():
        return opts.input
    for name in names:
        if (opts.input / name).is_file():
            return opts.input / name
    raise ValueError(f"{opts.input}: none of {', '.join(names)} found")
