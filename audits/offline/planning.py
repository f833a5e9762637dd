"""Planning a run: shuffled partners, prompts, the results file, settings checks, what is left.

- Shuffled: a seeded derangement over the manifest's rows keyed by the image file's SHA-256 (for
  DICOM, of its rendered pixels), so an item is never paired with its own image nor an
  identical one.
- Resumable: lines already in ``results.jsonl`` are kept and their items skipped; a half-written
  last line is cut off. ``run.json`` records the settings; resuming with other ones is refused.
- Batching groups are fixed by manifest position and a group with an unfinished item is
  recomputed as a whole, so a resumed run batches exactly like an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from pathlib import Path

from audits.contracts.types import COUNTERFACTUALS, Condition
from audits.data.images import image_content_key
from audits.data.manifest import ManifestItem
from audits.offline.run_records import ItemRecord, RunMismatchError, RunSettings
from audits.science.conditions.image_removal import seeded_derangement
from audits.science.prompts import option_question_prompt

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
SETTINGS_NAME = "run.json"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_keys(items: Sequence[ManifestItem]) -> list[str]:
    """The content key of every item's image (each file read once): the file's SHA-256, or for
    DICOM that of its rendered pixels."""
    by_path: dict[str, str] = {}
    keys = []
    for item in items:
        if item.image not in by_path:
            try:
                by_path[item.image] = image_content_key(item.image)
            except OSError as exc:
                raise FileNotFoundError(f"item {item.id!r}: cannot read {item.image}") from exc
        keys.append(by_path[item.image])
    return keys


def shuffled_partners(items: Sequence[ManifestItem], seed: int) -> list[int | None]:
    """Index of each item's shuffled partner; None for all when there is no second image."""
    keys = image_keys(items)
    if len(set(keys)) < 2:
        return [None] * len(items)
    return list(seeded_derangement(keys, seed))


def presented_question(item: ManifestItem, options_in_prompt: bool) -> str:
    """The prompt of an item: option questions list their options unless told otherwise."""
    if options_in_prompt and item.options:
        return option_question_prompt(item.question, item.options)
    return item.question


def canonical_conditions(conditions: Iterable[Condition | str]) -> tuple[Condition, ...]:
    """The counterfactuals asked for, in their canonical order (real always runs)."""
    wanted = {Condition(c) for c in conditions} - {Condition.REAL}
    return tuple(c for c in COUNTERFACTUALS if c in wanted)


class ResultsFile:
    """``results.jsonl``: appended one fsynced line per item; the last line of an id wins."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, ItemRecord]:
        """Records so far; a trailing half-written line (an interrupted write) is cut off."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            log.warning("dropping a half-written last line of %s", self.path)
            with self.path.open("r+b") as fh:
                fh.truncate(complete)
        records: dict[str, ItemRecord] = {}
        for lineno, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = ItemRecord.model_validate(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{self.path}:{lineno}: not a result record ({exc})") from None
            records[record.id] = record
        return records

    def append(self, record: ItemRecord) -> None:
        # json.dumps keeps -inf log-probabilities (pydantic's JSON would write null)
        line = json.dumps(record.model_dump(mode="python"))
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def check_settings(out_dir: Path, settings: RunSettings, model_name: str) -> None:
    """Store the settings of a new run; refuse to resume one with other settings."""
    path = out_dir / SETTINGS_NAME
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        previous = RunSettings.model_validate(stored["settings"])
        if previous != settings:
            old, new = previous.model_dump(mode="json"), settings.model_dump(mode="json")
            changed = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if old[k] != new[k])
            raise RunMismatchError(
                f"{out_dir} holds results of a run with other settings ({changed}); "
                "use another output folder or delete it to start over"
            )
        if stored.get("model") != model_name:
            log.warning("resuming a run of %r with %r", stored.get("model"), model_name)
        return
    if (out_dir / RESULTS_NAME).exists():
        log.warning("%s has results but no %s; assuming the same settings", out_dir, SETTINGS_NAME)
    document = {"model": model_name, "settings": settings.model_dump(mode="json")}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def pending_indices(
    selection: Sequence[ManifestItem], done: Mapping[str, ItemRecord], group_size: int
) -> list[int]:
    """Indices to run: every member of each batching group that has an unfinished item."""
    pending: list[int] = []
    for _, group in groupby(range(len(selection)), key=lambda i: i // group_size):
        members = list(group)
        if any(selection[i].id not in done for i in members):
            pending += members
    return pending
