"""The phantom generator: seeded, DESIGN.md manifest format, answers that the pixels support."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audits.data.manifest import read_manifest
from audits.data.phantom import (
    ANSWERS,
    LESION_QUESTION,
    MODALITY_QUESTION,
    SIDE_QUESTION,
    make_phantom,
)
from cli.main import main


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_phantom(tmp_path_factory.mktemp("phantom"), n_images=120, seed=3)


def test_same_seed_gives_identical_files(phantom: Path, tmp_path: Path) -> None:
    again = make_phantom(tmp_path / "again", n_images=120, seed=3)
    assert again.read_bytes() == phantom.read_bytes()
    for row in read_manifest(phantom)[:12]:
        assert (again.parent / row.image).read_bytes() == (phantom.parent / row.image).read_bytes()


def test_other_seed_gives_other_images(phantom: Path, tmp_path: Path) -> None:
    other = make_phantom(tmp_path / "other", n_images=120, seed=4)
    first, second = read_manifest(phantom)[0], read_manifest(other)[0]
    assert first.image != second.image
    assert (phantom.parent / first.image).read_bytes() != (other.parent / second.image).read_bytes()


def test_manifest_rows_follow_the_design_format(phantom: Path) -> None:
    lines = phantom.read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert {tuple(sorted(row)) for row in rows} == {
        ("answer", "answer_set", "benchmark", "id", "image", "modality", "question")
    }
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert (phantom.parent / row["image"]).is_file()
        assert row["answer"] in ANSWERS[row["question"]]
        # every phantom question is closed: its admissible answers are written with it
        assert row["answer_set"] == list(ANSWERS[row["question"]])
        assert row["benchmark"] == "phantom"


def test_questions_per_image(phantom: Path) -> None:
    by_image: dict[str, dict[str, str]] = {}
    for row in read_manifest(phantom):
        by_image.setdefault(row.image, {})[row.question] = row.answer
    assert len(by_image) == 120
    for answers in by_image.values():
        assert answers[LESION_QUESTION] in {"yes", "no"}
        assert (SIDE_QUESTION in answers) == (answers[LESION_QUESTION] == "yes")
    counts = Counter(
        (question, answer) for answers in by_image.values() for question, answer in answers.items()
    )
    assert counts[(LESION_QUESTION, "yes")] == counts[(LESION_QUESTION, "no")] == 60
    assert counts[(MODALITY_QUESTION, "xray")] == counts[(MODALITY_QUESTION, "ct")] == 60
    assert counts[(SIDE_QUESTION, "left")] == counts[(SIDE_QUESTION, "right")] == 30


def test_pixels_support_the_answers(phantom: Path) -> None:
    """Lesions are the brightest blob on their side; x-rays have a dark border, CTs a gray one."""
    for image_path, answers in _answers_by_image(phantom).items():
        pixels = np.asarray(Image.open(phantom.parent / image_path).convert("L"), dtype=float)
        assert pixels.shape == (64, 64)
        rgb = np.asarray(Image.open(phantom.parent / image_path))
        assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
        border = np.concatenate([pixels[:3].ravel(), pixels[-3:].ravel()]).mean()
        if answers[MODALITY_QUESTION] == "xray":
            assert border < 45
        else:
            assert 65 < border < 115
        middle = pixels[12:52]
        left, right = _bright_spot(middle[:, 4:30]), _bright_spot(middle[:, 34:60])
        if answers[LESION_QUESTION] == "yes":
            lesion, other = (left, right) if answers[SIDE_QUESTION] == "left" else (right, left)
            assert lesion > 228 > 222 > other
        else:
            assert max(left, right) < 222


def test_cli_writes_the_data_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["make-phantom", "--out", str(tmp_path), "--n-images", "5", "--seed", "1"])
    assert code == 0
    rows = read_manifest(tmp_path / "manifest.jsonl")
    assert len({row.image for row in rows}) == 5
    assert "5 images" in capsys.readouterr().out


def test_answers_are_single_tokens() -> None:
    from reference_models.demo_model import build_tokenizer

    tokenizer = build_tokenizer()
    for answers in ANSWERS.values():
        for answer in answers:
            assert len(tokenizer(answer, add_special_tokens=False)["input_ids"]) == 1, answer


def _answers_by_image(manifest: Path) -> dict[str, dict[str, str]]:
    by_image: dict[str, dict[str, str]] = {}
    for row in read_manifest(manifest):
        by_image.setdefault(row.image, {})[row.question] = row.answer
    return by_image


def _bright_spot(region: np.ndarray) -> float:
    """Mean of a 3x3 window around the brightest pixel after a 3x3 box blur (noise-robust)."""
    padded = np.pad(region, 1, mode="edge")
    blurred = sum(
        padded[dy : dy + region.shape[0], dx : dx + region.shape[1]]
        for dy in range(3)
        for dx in range(3)
    )
    return float(blurred.max() / 9)
