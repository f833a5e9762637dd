"""PathVQA (the Hugging Face export: parquet, JSONL or JSON)."""

from __future__ import annotations

from audits.data.converters.common import (
    ConvertOptions,
    _default_images_out,
    _keep_split,
    _materialize_image,
    _records_from,
    _require,
    _text,
    _unique_id,
)
from audits.data.manifest import ManifestItem


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
