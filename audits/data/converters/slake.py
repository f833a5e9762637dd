"""SLAKE 1.0 (English questions)."""

from __future__ import annotations

from pathlib import Path

from audits.data.converters.common import (
    ConvertOptions,
    _find_file,
    _load_records,
    _require,
    _resolve_path,
    _text,
    _unique_id,
)
from audits.data.manifest import ManifestItem

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
