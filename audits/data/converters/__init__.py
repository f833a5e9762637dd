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

from collections.abc import Callable

from audits.data.converters.common import FORMATS, SPLITS, ConvertOptions
from audits.data.converters.medvlthinker import convert_medvlthinker
from audits.data.converters.pathvqa import convert_pathvqa
from audits.data.converters.pmc_vqa import convert_pmc_vqa
from audits.data.converters.slake import convert_slake
from audits.data.converters.vqa_rad import convert_vqa_rad
from audits.data.manifest import ManifestItem, write_manifest

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


__all__ = ["CONVERTERS", "FORMATS", "SPLITS", "ConvertOptions", "convert"]
