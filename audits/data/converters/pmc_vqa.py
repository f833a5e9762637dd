"""PMC-VQA (CSV with four choices; the reference becomes the letter)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from audits.data.converters.common import (
    ConvertOptions,
    _find_file,
    _keep_split,
    _load_records,
    _require,
    _resolve_path,
    _text,
    _unique_id,
)
from audits.data.manifest import ManifestItem
from audits.science.parsing import normalize_answer

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
