"""The VLM families the runtime serves (``FAMILIES``), the checkpoints it refuses
(``UNSERVED``), the README's compatibility table, and each family's tiny checkpoint written or
cached (``build-family-model``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reference_models.build_cache import build_once
from reference_models.families.gemma import build_gemma3
from reference_models.families.idefics import build_idefics3
from reference_models.families.llava import build_llava
from reference_models.families.mllama import build_mllama
from reference_models.families.qwen import build_qwen2_5_vl, build_qwen2_vl, build_qwen3_vl

FAMILIES_VERSION = "v2"


@dataclass(frozen=True)
class FamilySpec:
    family: str
    """What teams call it (the README table's first column)."""
    model_type: str
    architecture: str
    examples: str
    """Deployed checkpoints of this family."""
    notes: str
    build: Callable[[Path], None]


FAMILIES: dict[str, FamilySpec] = {
    spec.model_type: spec
    for spec in [
        FamilySpec(
            "Qwen2-VL",
            "qwen2_vl",
            "Qwen2VLForConditionalGeneration",
            "Qwen2-VL-7B-Instruct; the project's reference models",
            "video processor left out (it needs torchvision): images only",
            build_qwen2_vl,
        ),
        FamilySpec(
            "Qwen2.5-VL",
            "qwen2_5_vl",
            "Qwen2_5_VLForConditionalGeneration",
            "Qwen2.5-VL-7B-Instruct, the seed paper's RL models",
            "as Qwen2-VL; windowed attention in the vision tower",
            build_qwen2_5_vl,
        ),
        FamilySpec(
            "Qwen3-VL",
            "qwen3_vl",
            "Qwen3VLForConditionalGeneration",
            "Qwen3-VL-8B-Instruct",
            "as Qwen2-VL; 16 px patches, DeepStack features, interleaved M-RoPE",
            build_qwen3_vl,
        ),
        FamilySpec(
            "Gemma 3",
            "gemma3",
            "Gemma3ForConditionalGeneration",
            "MedGemma 4B/27B multimodal",
            "`token_type_ids` extended over the scored answer; sliding-window layers",
            build_gemma3,
        ),
        FamilySpec(
            "LLaVA",
            "llava",
            "LlavaForConditionalGeneration",
            "LLaVA-Med v1.5 converted to the transformers LLaVA format",
            "Mistral text model as in LLaVA-Med v1.5",
            build_llava,
        ),
        FamilySpec(
            "Idefics3",
            "idefics3",
            "Idefics3ForConditionalGeneration",
            "SmolVLM (v1), Idefics3-8B",
            "images split into tiles plus a global view",
            build_idefics3,
        ),
        FamilySpec(
            "Llama 3.2 Vision",
            "mllama",
            "MllamaForConditionalGeneration",
            "Llama-3.2-11B-Vision-Instruct",
            "cross-attention: items without an image run in a batch of their own",
            build_mllama,
        ),
    ]
}


@dataclass(frozen=True)
class UnservedCheckpoint:
    family: str
    architecture: str
    examples: str
    start_up_error: str


UNSERVED = [
    UnservedCheckpoint(
        "LLaVA-Med as released",
        "LlavaMistralForCausalLM (`llava_mistral`)",
        "microsoft/llava-med-v1.5-mistral-7b",
        "its own code, not a transformers class: convert it to `LlavaForConditionalGeneration`",
    ),
    UnservedCheckpoint(
        "SmolVLM2",
        "SmolVLMForConditionalGeneration (`smolvlm`)",
        "SmolVLM2-2.2B-Instruct",
        "its processor needs the `num2words` package, not a dependency here",
    ),
]
"""Checkpoints teams ask about that the runtime refuses at start-up, with the reason it gives."""

TESTED_HERE = "yes (CPU, float32)"


def compatibility_table() -> str:
    """The README's compatibility table, generated from ``FAMILIES`` and ``UNSERVED``."""
    lines = [
        "| Family | Architecture (model type) | Deployed checkpoints | Tested here | Notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in FAMILIES.values():
        architecture = f"{spec.architecture} (`{spec.model_type}`)"
        lines.append(
            f"| {spec.family} | {architecture} | {spec.examples} | {TESTED_HERE} | {spec.notes} |"
        )
    for unserved in UNSERVED:
        lines.append(
            f"| {unserved.family} | {unserved.architecture} | {unserved.examples} | "
            f"refused at start-up | {unserved.start_up_error} |"
        )
    return "\n".join(lines) + "\n"


def write_family_checkpoint(model_type: str, out_dir: Path) -> Path:
    """Write a tiny random checkpoint of one family (a ``FAMILIES`` key) to ``out_dir``."""
    if model_type not in FAMILIES:
        raise ValueError(f"unknown family {model_type!r}; choose from {', '.join(FAMILIES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    FAMILIES[model_type].build(out_dir)
    return out_dir


def ensure_family_checkpoint(model_type: str, cache_dir: Path) -> Path:
    """The cached tiny checkpoint of one family under ``<cache_dir>/models/``, built once."""
    target = Path(cache_dir) / "models" / f"tiny-{model_type}-{FAMILIES_VERSION}"
    return build_once(
        target,
        lambda tmp: write_family_checkpoint(model_type, tmp),
        ready=lambda folder: (folder / "config.json").is_file(),
    )


VLLM_FAMILY = "idefics3"
"""The family of the tiny checkpoint a real vLLM serves here: vLLM's CPU image processors of
the Qwen families (and most others) import torchvision, Idefics3's do not."""
VLLM_VERSION = "v1"


def write_vllm_checkpoint(out_dir: Path) -> Path:
    """A tiny random Idefics3 that vLLM's CPU backend serves: the ``idefics3`` family checkpoint
    with 2 heads of 32 (vLLM's CPU attention crashes on 16-wide heads), same tokenizer,
    processor and chat template. Random weights: for protocol and equality tests, not science."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build_idefics3(out_dir, heads=2)
    return out_dir


def ensure_vllm_checkpoint(cache_dir: Path) -> Path:
    """The cached vLLM-servable checkpoint under ``<cache_dir>/models/``, built once."""
    target = Path(cache_dir) / "models" / f"tiny-{VLLM_FAMILY}-vllm-{VLLM_VERSION}"
    return build_once(
        target, write_vllm_checkpoint, ready=lambda folder: (folder / "config.json").is_file()
    )


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", choices=sorted(FAMILIES))
    parser.add_argument(
        "--vllm",
        action="store_true",
        help=f"the {VLLM_FAMILY} variant a real vLLM serves on CPU (32-wide heads)",
    )
    parser.add_argument("--out", type=Path, help="folder to write the checkpoint")
    parser.add_argument(
        "--table", action="store_true", help="print the README compatibility table and exit"
    )


def run(args: argparse.Namespace) -> int:
    if args.table:
        print(compatibility_table(), end="")
        return 0
    if args.vllm and args.out is not None:
        path = write_vllm_checkpoint(args.out)
        spec = FAMILIES[VLLM_FAMILY]
        print(
            json.dumps(
                {"family": spec.family, "architecture": spec.architecture, "path": str(path)}
            )
        )
        return 0
    if args.family is None or args.out is None:
        print("build-family-model needs --family and --out (or --table)", file=sys.stderr)
        return 2
    path = write_family_checkpoint(args.family, args.out)
    spec = FAMILIES[args.family]
    print(json.dumps({"family": spec.family, "architecture": spec.architecture, "path": str(path)}))
    return 0
