"""`grounding-audit convert`: turn a downloaded benchmark into a manifest (audits.data.manifest).

    grounding-audit convert --format slake --input Slake1.0/test.json --out slake.jsonl

Inputs each format expects (``--input`` is the file, or a folder holding it):

``vqa-rad``
    ``VQA_RAD Dataset Public.json`` (OSF release): a JSON list of records with ``qid``,
    ``image_name``, ``question``, ``answer``, ``answer_type`` and ``phrase_type``. Images are
    looked up in ``--images-dir``, else in ``VQA_RAD Image Folder`` beside the JSON, else beside
    the JSON. ``--split test`` keeps ``phrase_type`` test_freeform/test_para, ``train`` the
    others, ``all`` everything.
``slake``
    SLAKE 1.0 ``test.json`` (or ``train.json`` / ``validate.json``; a folder input picks
    ``<split>.json``): records with ``qid``, ``img_name`` ("xmlab102/source.jpg"), ``question``,
    ``answer``, ``q_lang``, ``answer_type``, ``modality``. Only English questions
    (``q_lang == "en"``) are kept. Images: ``--images-dir``, else ``imgs/`` beside the JSON.
``pathvqa``
    The Hugging Face export (flaviagiammarino/path-vqa): parquet (needs ``pyarrow``) or
    JSONL/JSON records with ``image``, ``question``, ``answer``. ``image`` is a path, a
    ``{"bytes": ..., "path": ...}`` dict (bytes raw, base64 or a list of ints) or a base64
    string. A folder input takes the files whose name contains the split. Embedded images are
    written as files into ``--images-dir`` (default ``images/pathvqa`` beside the manifest).
``pmc-vqa``
    PMC-VQA ``test.csv`` / ``test_2.csv`` with ``Figure_path``, ``Question``, ``Choice A`` ..
    ``Choice D`` (an "A:" prefix is removed), ``Answer`` and optionally ``Answer_label``. The
    reference becomes the option letter. Images: ``--images-dir``, else ``images/`` or
    ``figures/`` beside the CSV. A ``split`` column, when present, is filtered on.
``medvlthinker``
    MedVLThinker-Eval style JSONL/JSON/parquet: ``question``, ``options`` (a dict, a JSON
    string, an "A. x\\nB. y" string or a list), ``answer_label`` (or an ``answer`` letter or
    option text), ``image`` or ``images`` (first one; path or bytes as for pathvqa) and
    ``dataset_name`` (the benchmark). Embedded images go to ``--images-dir`` (default
    ``images/medvlthinker`` beside the manifest).

Image paths in the manifest are written relative to the manifest's folder.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from audits.data.manifest import ManifestItem, write_manifest
from audits.science.parsing import normalize_answer

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


def convert_vqa_rad(opts: ConvertOptions) -> list[ManifestItem]:
    if opts.split == "validation":
        raise ValueError("VQA-RAD has no validation split (use test, train or all)")
    path = _find_file(opts, ("VQA_RAD Dataset Public.json",))
    folder = path.resolve().parent
    default_images = folder / "VQA_RAD Image Folder"
    images = opts.images_dir or (default_images if default_images.is_dir() else folder)
    items: list[ManifestItem] = []
    seen: set[str] = set()
    for index, record in enumerate(_load_records(path)):
        where = f"{path} record {index}"
        is_test = str(record.get("phrase_type", "")).lower().startswith("test")
        if opts.split == "test" and not is_test:
            continue
        if opts.split == "train" and is_test:
            continue
        qid = _text(record, "qid") or str(index)
        image = _require(record, where, "image_name")
        items.append(
            ManifestItem(
                id=_unique_id(f"vqa-rad-{qid}", seen),
                image=str(_resolve_path(image, [images])),
                question=_require(record, where, "question"),
                answer=_require(record, where, "answer"),
                benchmark="vqa-rad",
            )
        )
    return items


SLAKE_FILES = {"train": "train.json", "validation": "validate.json", "test": "test.json"}


def _slake_files(opts: ConvertOptions) -> list[Path]:
    if not opts.input.is_dir():
        return [opts.input]
    if opts.split == "all":
        files = [opts.input / n for n in SLAKE_FILES.values() if (opts.input / n).is_file()]
        if not files:
            raise ValueError(f"{opts.input}: none of {', '.join(SLAKE_FILES.values())} found")
        return files
    return [_find_file(opts, (SLAKE_FILES[opts.split],))]


def convert_slake(opts: ConvertOptions) -> list[ManifestItem]:
    items: list[ManifestItem] = []
    seen: set[str] = set()
    for path in _slake_files(opts):
        folder = path.resolve().parent
        images = opts.images_dir or (folder / "imgs" if (folder / "imgs").is_dir() else folder)
        for index, record in enumerate(_load_records(path)):
            if str(record.get("q_lang", "en")).lower() != "en":
                continue
            where = f"{path} record {index}"
            qid = _text(record, "qid") or str(index)
            items.append(
                ManifestItem(
                    id=_unique_id(f"slake-{qid}", seen),
                    image=str(_resolve_path(_require(record, where, "img_name"), [images])),
                    question=_require(record, where, "question"),
                    answer=_require(record, where, "answer"),
                    benchmark="slake",
                    modality=_text(record, "modality"),
                )
            )
    return items


def convert_pathvqa(opts: ConvertOptions) -> list[ManifestItem]:
    images_out = _default_images_out(opts, "pathvqa")
    items: list[ManifestItem] = []
    seen: set[str] = set()
    counter = 0
    for path, record in _records_from(opts, (".parquet", ".jsonl", ".json")):
        if not _keep_split(record, opts.split):
            continue
        where = f"{path} record {counter}"
        item_id = _unique_id(_text(record, "id") or f"pathvqa-{opts.split}-{counter:05d}", seen)
        counter += 1
        search = [opts.images_dir or path.resolve().parent, path.resolve().parent]
        if "image" not in record:
            raise ValueError(f"{where}: missing image")
        items.append(
            ManifestItem(
                id=item_id,
                image=_materialize_image(record["image"], item_id, images_out, search, where),
                question=_require(record, where, "question"),
                answer=_require(record, where, "answer"),
                benchmark="pathvqa",
            )
        )
    return items


_CHOICE_PREFIX = re.compile(r"^\s*\(?[A-Ha-h]\s*[:.)]\s*")


def _letter_answer(
    record: Mapping[str, Any], options: Mapping[str, str], label_keys: tuple[str, ...]
) -> str | None:
    """The reference as an option letter: a label column, a bare letter, or an option's text."""
    for key in (*label_keys, "answer", "Answer"):
        value = _text(record, key)
        if value is None:
            continue
        bare = _CHOICE_PREFIX.sub("", value) if len(value) > 2 else value
        letter = value.strip().strip("().:").upper()
        if len(letter) == 1 and letter in options:
            return letter
        normalized = normalize_answer(bare, options)
        if normalized in options:
            return normalized
    return None


def convert_pmc_vqa(opts: ConvertOptions) -> list[ManifestItem]:
    path = _find_file(opts, ("test_2.csv", "test.csv"))
    folder = path.resolve().parent
    images = opts.images_dir
    if images is None:
        images = next((folder / n for n in ("images", "figures") if (folder / n).is_dir()), folder)
    items: list[ManifestItem] = []
    seen: set[str] = set()
    for index, record in enumerate(_load_records(path)):
        if not _keep_split(record, opts.split):
            continue
        where = f"{path} row {index + 2}"
        options = {}
        for letter in "ABCD":
            choice = _text(record, f"Choice {letter}")
            if choice is not None:
                options[letter] = _CHOICE_PREFIX.sub("", choice)
        if not options:
            raise ValueError(f"{where}: no Choice A..D columns")
        answer = _letter_answer(record, options, ("Answer_label",))
        if answer is None:
            raise ValueError(f"{where}: the answer matches no option")
        figure = _require(record, where, "Figure_path")
        items.append(
            ManifestItem(
                id=_unique_id(f"pmc-vqa-{_text(record, 'index') or index}", seen),
                image=str(_resolve_path(figure, [images, folder])),
                question=_require(record, where, "Question"),
                answer=answer,
                options=options,
                benchmark="pmc-vqa",
            )
        )
    return items


_OPTION_LINE = re.compile(r"^\s*\(?([A-Ha-h])\s*[.):]\s*(.+?)\s*$")


def _parse_options(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith(("{", "[")):
            value = json.loads(stripped)
        else:
            options = {}
            for line in stripped.splitlines():
                m = _OPTION_LINE.match(line)
                if m is not None:
                    options[m.group(1).upper()] = m.group(2)
            value = options
    if isinstance(value, list):
        value = {LETTERS[i]: v for i, v in enumerate(value) if v is not None}
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: options must be a non-empty mapping, list or 'A. x' lines")
    return {str(k).strip().upper(): str(v) for k, v in value.items() if v is not None}


def convert_medvlthinker(opts: ConvertOptions) -> list[ManifestItem]:
    images_out = _default_images_out(opts, "medvlthinker")
    items: list[ManifestItem] = []
    seen: set[str] = set()
    counter = 0
    for path, record in _records_from(opts, (".parquet", ".jsonl", ".json")):
        if not _keep_split(record, opts.split):
            continue
        where = f"{path} record {counter}"
        counter += 1
        benchmark = _text(record, "dataset_name", "dataset", "source") or "medvlthinker"
        index = _text(record, "dataset_index", "index")
        base_id = _text(record, "id") or (
            f"{benchmark}-{index}" if index is not None else f"medvlthinker-{counter - 1:05d}"
        )
        item_id = _unique_id(base_id, seen)
        options = _parse_options(record.get("options"), where)
        answer = _letter_answer(record, options, ("answer_label", "answer_idx"))
        if answer is None:
            raise ValueError(f"{where}: the answer matches no option")
        image = record.get("image", record.get("images"))
        if image is None:
            raise ValueError(f"{where}: missing image / images")
        search = [opts.images_dir or path.resolve().parent, path.resolve().parent]
        items.append(
            ManifestItem(
                id=item_id,
                image=_materialize_image(image, item_id, images_out, search, where),
                question=_require(record, where, "question"),
                answer=answer,
                options=options,
                benchmark=benchmark,
                modality=_text(record, "modality"),
            )
        )
    return items


CONVERTERS: dict[str, Callable[[ConvertOptions], list[ManifestItem]]] = {
    "vqa-rad": convert_vqa_rad,
    "slake": convert_slake,
    "pathvqa": convert_pathvqa,
    "pmc-vqa": convert_pmc_vqa,
    "medvlthinker": convert_medvlthinker,
}


def convert(fmt: str, opts: ConvertOptions) -> list[ManifestItem]:
    """Convert ``opts.input`` in format ``fmt`` and write the manifest to ``opts.out``."""
    if fmt not in CONVERTERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if not opts.input.exists():
        raise ValueError(f"{opts.input}: no such file or folder")
    items = CONVERTERS[fmt](opts)
    write_manifest(opts.out, items)
    return items


# --- CLI ------------------------------------------------------------------------------------


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--input", required=True, type=Path, help="downloaded file or folder")
    parser.add_argument("--out", required=True, type=Path, help="manifest JSONL to write")
    parser.add_argument(
        "--images-dir",
        type=Path,
        default=None,
        help="where the images are (path formats) or are written to (embedded images)",
    )
    parser.add_argument("--split", default="test", choices=SPLITS)


def run(args: argparse.Namespace) -> int:
    opts = ConvertOptions(
        input=args.input, out=args.out, images_dir=args.images_dir, split=args.split
    )
    try:
        items = convert(args.format, opts)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [item.image for item in items if not Path(item.image).is_file()]
    print(f"wrote {len(items)} items to {args.out}")
    if missing:
        print(
            f"warning: {len(missing)} image file(s) not found, e.g. {missing[0]}",
            file=sys.stderr,
        )
    return 0
