"""A seeded synthetic "phantom" VQA data set with answers that need the image.

Two modalities drawn as grayscale RGB images: ``xray`` (dark background, bright textured
ellipse) and ``ct`` (gray background, bright ring around a gray interior). Half of the images
carry a bright round lesion in the left or the right half of the image (viewer's left/right).
Every image gets the lesion and the modality question; images with a lesion also get the side
question. Answers are single words. The manifest follows DESIGN.md section 4.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel

from audits.data.manifest import ManifestItem

Modality = Literal["xray", "ct"]
Side = Literal["left", "right"]
LesionSize = Literal["small", "large"]

BENCHMARK = "phantom"
MANIFEST_NAME = "manifest.jsonl"
CASES_NAME = "cases.jsonl"
"""Beside the manifest: what each image shows (``image`` path + PhantomCase fields)."""
DEFAULT_IMAGE_SIDE = 64
"""Native size; the reference models' processor resizes every image to 56x56."""

LESION_QUESTION = "Is there a lesion?"
SIDE_QUESTION = "Which side is the lesion on?"
MODALITY_QUESTION = "What modality is this?"
ANSWERS: dict[str, tuple[str, ...]] = {
    LESION_QUESTION: ("yes", "no"),
    SIDE_QUESTION: ("left", "right"),
    MODALITY_QUESTION: ("xray", "ct"),
}


class PhantomCase(BaseModel):
    """What one phantom image shows."""

    modality: Modality
    lesion: Side | None
    lesion_size: LesionSize | None = None
    """Small lesions are drawn with radius 6-7.5% of the image side, large ones 9-10.5%."""


def plan_cases(n_images: int, seed: int) -> list[PhantomCase]:
    """Balanced, seeded: half of each modality, half with a lesion, half of those on each side.

    Exact balance (to one image for odd counts) makes every constant answer score the
    majority-class baseline, the yardstick of a model that ignores the image.
    """
    rng = np.random.default_rng([seed, 1])
    modalities = rng.permutation(np.arange(n_images) % 2)
    lesions = rng.permutation(np.arange(n_images) % 2)
    sides = iter(rng.permutation(np.arange(int(lesions.sum())) % 2))
    sizes = iter(np.random.default_rng([seed, 4]).permutation(np.arange(int(lesions.sum())) % 2))
    cases = []
    for modality, lesion in zip(modalities, lesions, strict=True):
        side: Side | None = ("left", "right")[next(sides)] if lesion else None
        size: LesionSize | None = ("small", "large")[next(sizes)] if lesion else None
        cases.append(PhantomCase(modality=("xray", "ct")[modality], lesion=side, lesion_size=size))
    return cases


def render_phantom(
    case: PhantomCase, rng: np.random.Generator, side: int = DEFAULT_IMAGE_SIDE
) -> Image.Image:
    """Draw one phantom image; all randomness (shape, texture, lesion place) comes from rng."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64) / side
    cx, cy = 0.5 + rng.uniform(-0.03, 0.03), 0.5 + rng.uniform(-0.03, 0.03)
    ax, ay = rng.uniform(0.36, 0.44), rng.uniform(0.40, 0.46)
    radius = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
    inside = radius <= 1.0
    if case.modality == "xray":
        image = np.full((side, side), rng.uniform(10, 30))
        body = rng.uniform(120, 160) + _texture(rng, xx, yy, amplitude=22.0)
        image[inside] = body[inside]
    else:
        image = np.full((side, side), rng.uniform(80, 100))
        ring_width = rng.uniform(0.10, 0.16)
        image[inside] = rng.uniform(100, 120) + _texture(rng, xx, yy, amplitude=6.0)[inside]
        ring = inside & (radius >= 1.0 - ring_width)
        image[ring] = rng.uniform(190, 215)
    if case.lesion is not None:
        lx = rng.uniform(0.25, 0.38) if case.lesion == "left" else rng.uniform(0.62, 0.75)
        ly = rng.uniform(0.32, 0.68)
        low, high = (0.09, 0.105) if case.lesion_size == "large" else (0.06, 0.075)
        lesion_radius = rng.uniform(low, high)
        distance = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / lesion_radius
        weight = np.clip(1.5 - distance, 0.0, 1.0)
        image = image * (1 - weight) + rng.uniform(235, 250) * weight
    image = image + rng.normal(0.0, 5.0, size=image.shape)
    gray = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([gray, gray, gray], axis=-1), mode="RGB")


def _texture(
    rng: np.random.Generator, xx: np.ndarray, yy: np.ndarray, *, amplitude: float
) -> np.ndarray:
    """Low-frequency texture: a few random plane waves (ribs, vessels, soft tissue)."""
    texture = np.zeros_like(xx)
    for _ in range(4):
        fx, fy = rng.uniform(-8, 8), rng.uniform(-8, 8)
        phase = rng.uniform(0, 2 * np.pi)
        texture += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
    return amplitude * texture / 2.0


def rows_for(image_id: str, image_path: str, case: PhantomCase) -> list[ManifestItem]:
    answers = {
        LESION_QUESTION: "no" if case.lesion is None else "yes",
        MODALITY_QUESTION: case.modality,
    }
    if case.lesion is not None:
        answers[SIDE_QUESTION] = case.lesion
    suffix = {LESION_QUESTION: "lesion", SIDE_QUESTION: "side", MODALITY_QUESTION: "modality"}
    return [
        ManifestItem(
            id=f"{image_id}-{suffix[question]}",
            image=image_path,
            question=question,
            answer=answer,
            answer_set=list(ANSWERS[question]),
            benchmark=BENCHMARK,
            modality=case.modality,
        )
        for question, answer in sorted(answers.items(), key=lambda qa: suffix[qa[0]])
    ]


def make_phantom(
    out_dir: Path, n_images: int, seed: int, *, image_side: int = DEFAULT_IMAGE_SIDE
) -> Path:
    """Write ``images/*.png`` and ``manifest.jsonl`` under out_dir; returns the manifest path.

    The same arguments give byte-identical files.
    """
    if n_images < 1:
        raise ValueError("n_images must be at least 1")
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rows: list[ManifestItem] = []
    cases: list[dict[str, object]] = []
    for index, case in enumerate(plan_cases(n_images, seed)):
        image_id = f"phantom-s{seed}-{index:05d}"
        relative = f"images/{image_id}.png"
        rng = np.random.default_rng([seed, 2, index])
        render_phantom(case, rng, image_side).save(out_dir / relative, format="PNG")
        rows.extend(rows_for(image_id, relative, case))
        cases.append({"image": relative, **case.model_dump()})
    _write_jsonl(out_dir / CASES_NAME, cases)
    manifest = out_dir / MANIFEST_NAME
    _write_jsonl(manifest, [row.model_dump(exclude_none=True) for row in rows])
    return manifest


def read_cases(manifest: Path) -> dict[str, PhantomCase]:
    """What each image of a phantom manifest shows, keyed by its absolute image path."""
    base = Path(manifest).resolve().parent
    cases = {}
    with (base / CASES_NAME).open() as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                cases[str((base / row.pop("image")).resolve())] = PhantomCase(**row)
    return cases


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    partial = path.with_suffix(".jsonl.partial")
    with partial.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(partial, path)


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for images + manifest")
    parser.add_argument(
        "--n-images",
        type=int,
        default=300,
        help="images to draw, 2-3 questions each (default: %(default)s, about 750 rows; the "
        "reference models were trained on 3000)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-side", type=int, default=DEFAULT_IMAGE_SIDE)


def run(args: argparse.Namespace) -> int:
    print(f"drawing {args.n_images} phantom images into {args.out} ...", flush=True)
    manifest = make_phantom(args.out, args.n_images, args.seed, image_side=args.image_side)
    count = sum(1 for _ in manifest.open())
    print(f"wrote {args.n_images} images and {count} rows to {manifest}")
    return 0
