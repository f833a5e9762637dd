"""MedVLThinker-Eval style records (options, answer label, embedded images)."""

from __future__ import annotations

import json
import re
from typing import Any

from audits.data.converters.common import (
    LETTERS,
    ConvertOptions,
    _default_images_out,
    _keep_split,
    _materialize_image,
    _records_from,
    _require,
    _text,
    _unique_id,
)
from audits.data.converters.pmc_vqa import _letter_answer
from audits.data.manifest import ManifestItem

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
