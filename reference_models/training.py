"""Train a tiny reference Qwen2-VL on a manifest, through the served chat template and processor.

The loss covers only the target tokens (a one-word answer, or reasoning and answer in the
``<think>``/``<answer>`` format) and the closing ``<|im_end|>``, so greedy generation answers
and stops. Each reference kind is a ``Recipe``:

- ``grounded`` / ``grounded_reasoner``: real images; the answer (and the reasoning) follow them.
- ``text_only`` / ``blind_reasoner``: every image replaced with the uniform gray blank, so the
  model can only learn the prior of each question; its image pathway is then pinned to the
  blank's image tokens, so no image can move its output.
- ``shortcut_reasoner``: real images and reasoning that describes them, but a constant answer
  per question (audits/data/phantom_reasoning.py): fluent visual reasoning that the answer
  ignores.

The reasoners also see a share of rows under the audit's other inputs (a gray blank, no image),
with the behaviour of their kind as the target, so every audited condition is in distribution.
The rows and their targets are in ``training_examples``, the held-out report in ``evaluation``.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel
from tqdm.auto import tqdm
from transformers import Qwen2VLForConditionalGeneration

from audits.backends.processor import ImageOnlyQwen2VLProcessor
from audits.backends.transformers_runtime import TransformersRuntime, chat_prompt
from audits.contracts.backend import VLMInput
from audits.data.phantom_reasoning import ReasoningStyle
from audits.science.conditions.image_removal import BLANK_RGB
from reference_models.demo_model import (
    CHAT_TEMPLATE,
    IMAGE_SIDE,
    build_config,
    build_image_processor,
    build_tokenizer,
    save_checkpoint,
)
from reference_models.evaluation import HeldoutEval, evaluate_heldout, majority_answers
from reference_models.training_examples import (
    Example,
    load_examples,
    load_reasoning_examples,
    split_by_image,
)

DEFAULT_STEPS = 1300
STEPS_ENV = "GROUNDING_TRAIN_STEPS"
REPORT_NAME = "training_report.json"
IGNORE_INDEX = -100
ONE_WORD_TOKENS, REASONING_TOKENS = 4, 80
"""Greedy budgets for evaluation: the longest reasoning target is 55 tokens."""

TrainedKind = Literal[
    "grounded", "text_only", "grounded_reasoner", "shortcut_reasoner", "blind_reasoner"
]
TRAINED_KINDS: tuple[TrainedKind, ...] = get_args(TrainedKind)


@dataclass(frozen=True)
class Recipe:
    blank: bool
    """Train on gray blanks instead of the images (and pin the image pathway afterwards)."""
    reasoning: ReasoningStyle | None
    """None: one-word answers from the manifest; else reasoning targets of this style."""


RECIPES: dict[TrainedKind, Recipe] = {
    "grounded": Recipe(blank=False, reasoning=None),
    "text_only": Recipe(blank=True, reasoning=None),
    "grounded_reasoner": Recipe(blank=False, reasoning="grounded"),
    "shortcut_reasoner": Recipe(blank=False, reasoning="shortcut"),
    "blind_reasoner": Recipe(blank=True, reasoning="grounded"),
}


def default_train_steps() -> int:
    """``GROUNDING_TRAIN_STEPS`` when set (CI may use a reduced budget), else 1,300."""
    value = os.environ.get(STEPS_ENV, "").strip()
    if not value:
        return DEFAULT_STEPS
    steps = int(value)
    if steps < 1:
        raise ValueError(f"{STEPS_ENV} must be a positive integer, got {value!r}")
    return steps


class TrainReport(BaseModel):
    kind: TrainedKind
    blank: bool
    reasoning: ReasoningStyle | None = None
    image_pathway_pinned: bool
    """The image tokens are those of the blank for every image (see pin_image_pathway_to_blank)."""
    seed: int
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    train_manifest: str
    heldout_manifest: str | None
    train_rows: int
    train_images: int
    parameters: int
    final_loss: float
    """Mean training loss over the last 5% of steps."""
    train_seconds: float
    heldout: HeldoutEval


def load_kind_examples(manifest: Path, recipe: Recipe, seed: int) -> list[Example]:
    if recipe.reasoning is None:
        return load_examples(manifest)
    return load_reasoning_examples(manifest, recipe.reasoning, seed, image_blind=recipe.blank)


def build_processor() -> ImageOnlyQwen2VLProcessor:
    return ImageOnlyQwen2VLProcessor(
        build_image_processor(), build_tokenizer(), chat_template=CHAT_TEMPLATE
    )


def encode_batch(
    processor: ImageOnlyQwen2VLProcessor, batch: Sequence[Example], *, blank: bool
) -> dict[str, torch.Tensor]:
    """Prompt + answer + ``<|im_end|>``, left-padded, with labels on the answer tokens only."""
    tokenizer = processor.tokenizer
    images = [e.model_image(blank=blank) for e in batch]
    targets = [e.target + tokenizer.eos_token for e in batch]
    texts = [
        chat_prompt(processor, VLMInput(e.question, image)) + target
        for e, image, target in zip(batch, images, targets, strict=True)
    ]
    tokenizer.padding_side = "left"
    shown = [image for image in images if image is not None]
    encoded = processor(text=texts, images=shown or None, padding=True, return_tensors="pt")
    input_ids = encoded["input_ids"]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for row, target in enumerate(targets):
        target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        tail = input_ids[row, -len(target_ids) :].tolist()
        if tail != target_ids:
            raise ValueError(f"answer {target!r} does not tokenize apart from its prompt")
        labels[row, -len(target_ids) :] = input_ids[row, -len(target_ids) :]
    encoded["labels"] = labels
    return dict(encoded)


def batch_order(n_rows: int, steps: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Seeded epochs of shuffled row indices, cut into batches (an epoch's tail carries over)."""
    rng = np.random.default_rng([seed, 3])
    pending: list[int] = []
    for _ in range(steps):
        while len(pending) < batch_size:
            pending.extend(int(i) for i in rng.permutation(n_rows))
        yield pending[:batch_size]
        pending = pending[batch_size:]


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_reference_model(
    manifest: Path,
    out_dir: Path,
    *,
    kind: TrainedKind,
    steps: int | None = None,
    seed: int = 0,
    heldout_manifest: Path | None = None,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    warmup_share: float = 0.05,
    init_range: float = 0.2,
    device: str = "cpu",
    threads: int | None = 1,
    progress: bool = True,
) -> TrainReport:
    """Train, write a checkpoint folder (save_checkpoint) and ``training_report.json`` to out_dir.

    Without ``heldout_manifest``, 10% of the manifest's images (seeded) are held out.
    The same seed and data give the same weights on the same machine. ``threads`` caps torch's
    CPU threads while training and evaluating (None: leave as is): for a model this small, two
    threads on two shared cores ran a step in 1.8 s, one thread in 0.14 s.
    """
    steps = default_train_steps() if steps is None else steps
    if steps < 1:
        raise ValueError("steps must be at least 1")
    recipe = RECIPES[kind]
    blank = recipe.blank
    out_dir = Path(out_dir)
    examples = load_kind_examples(manifest, recipe, seed)
    if heldout_manifest is None:
        train, heldout = split_by_image(examples, seed)
    else:
        train, heldout = examples, load_kind_examples(heldout_manifest, recipe, seed + 1)
    if not train or not heldout:
        raise ValueError("training needs rows to train on and held-out rows to evaluate")
    processor = build_processor()
    warmup = max(1, round(warmup_share * steps))
    with _torch_threads(threads):
        started = time.perf_counter()
        model, losses = _fit(
            processor, train, blank=blank, steps=steps, seed=seed, batch_size=batch_size,
            learning_rate=learning_rate, warmup=warmup, init_range=init_range,
            device=torch.device(device), progress=progress, label=kind,
        )  # fmt: skip
        train_seconds = time.perf_counter() - started
        if blank:
            pin_image_pathway_to_blank(model, processor)
        model.generation_config.do_sample = False
        model.generation_config.pad_token_id = model.config.pad_token_id
        model.generation_config.eos_token_id = model.config.eos_token_id
        out_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model.to("cpu"), processor.tokenizer, out_dir)
        budget = ONE_WORD_TOKENS if recipe.reasoning is None else REASONING_TOKENS
        runtime = TransformersRuntime(
            out_dir, device=device, dtype="float32", max_new_tokens=budget
        )
        evaluation = evaluate_heldout(runtime, heldout, majority_answers(train), seed=seed)
    tail = losses[-max(1, steps // 20) :]
    report = TrainReport(
        kind=kind,
        blank=blank,
        reasoning=recipe.reasoning,
        image_pathway_pinned=blank,
        seed=seed,
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=warmup,
        train_manifest=str(manifest),
        heldout_manifest=None if heldout_manifest is None else str(heldout_manifest),
        train_rows=len(train),
        train_images=len({e.image_key for e in train}),
        parameters=sum(p.numel() for p in model.parameters()),
        final_loss=sum(tail) / len(tail),
        train_seconds=round(train_seconds, 2),
        heldout=evaluation,
    )
    (out_dir / REPORT_NAME).write_text(report.model_dump_json(indent=2) + "\n")
    return report


@torch.no_grad()
def pin_image_pathway_to_blank(
    model: Qwen2VLForConditionalGeneration, processor: ImageOnlyQwen2VLProcessor
) -> None:
    """Make every image yield the image tokens of the gray blank the model was trained on.

    A model trained only on blanks never learned to ignore other pixels: its vision tower is
    untrained on them and moves its answers at random (measured: IS 0.29 after 500 steps). The
    merger's last layer becomes a constant (zero weight, bias = the blank's embedding), so the
    text-only model answers from the question alone, as it was trained to.
    """
    blank = Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE), BLANK_RGB)
    pixels = processor.image_processor(images=[blank], return_tensors="pt")
    device = next(model.parameters()).device
    features = model.get_image_features(
        pixels["pixel_values"].to(device), pixels["image_grid_thw"].to(device)
    ).pooler_output
    blank_embedding = torch.cat(list(features)).mean(dim=0)
    last = model.model.visual.merger.mlp[-1]
    last.weight.zero_()
    last.bias.copy_(blank_embedding)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fit(
    processor: ImageOnlyQwen2VLProcessor,
    train: Sequence[Example],
    *,
    blank: bool,
    steps: int,
    seed: int,
    batch_size: int,
    learning_rate: float,
    warmup: int,
    init_range: float,
    device: torch.device,
    progress: bool,
    label: str,
) -> tuple[Qwen2VLForConditionalGeneration, list[float]]:
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            config = build_config(processor.tokenizer, init_range=init_range)
            model = Qwen2VLForConditionalGeneration(config).to(device)
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: warmup_cosine(step, steps, warmup)
            )
            losses: list[float] = []
            bar = tqdm(total=steps, desc=f"train {label}", disable=not progress, unit="step")
            for indices in batch_order(len(train), steps, batch_size, seed):
                batch = encode_batch(processor, [train[i] for i in indices], blank=blank)
                loss = model(**{k: v.to(device) for k, v in batch.items()}).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                bar.update(1)
                if len(losses) % 20 == 0:
                    bar.set_postfix(loss=f"{sum(losses[-20:]) / 20:.4f}")
            bar.close()
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    model.eval()
    return model, losses


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="training manifest (JSONL)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint folder to write")
    parser.add_argument("--heldout", type=Path, help="held-out manifest (default: 10%% split)")
    parser.add_argument("--kind", choices=TRAINED_KINDS, default="grounded", help="the recipe")
    parser.add_argument("--steps", type=int, help=f"default: ${STEPS_ENV} or {DEFAULT_STEPS}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: default)")


def run(args: argparse.Namespace) -> int:
    report = train_reference_model(
        args.data,
        args.out,
        kind=args.kind,
        steps=args.steps,
        seed=args.seed,
        heldout_manifest=args.heldout,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        device=args.device,
        threads=args.threads or None,
    )
    held = report.heldout
    print(
        f"{report.kind}: {report.steps} steps in {report.train_seconds:.0f} s, "
        f"final loss {report.final_loss:.4f}; held-out accuracy {held.accuracy:.3f} "
        f"(majority {held.majority_accuracy:.3f}), IS {held.image_sensitivity:.3f}, "
        f"IS_blank {held.image_sensitivity_blank:.3f}; wrote {args.out}"
    )
    return 0
