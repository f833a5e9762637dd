"""VQA-RAD (OSF release JSON)."""

from __future__ import annotations

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
