"""Tiny random checkpoints of the VLM families medical teams deploy, built offline.

Each builder uses the family's own config, model and processor classes (PIL image processors,
no torchvision), the project's locally trained BPE tokenizer with the family's special tokens,
and a chat template in the family's style, and saves a normal checkpoint folder. They prove that
the runtime serves a family (tests/unit/backends/test_families.py); they are not trained.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import processors
from transformers import (
    AutoModelForImageTextToText,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    ProcessorMixin,
)

from audits.backends.processor import image_only_processor_class
from service.reference.demo_model import SPECIAL_TOKENS as QWEN_TOKENS
from service.reference.demo_model import build_tokenizer, write_demo_checkpoint

FAMILIES_VERSION = "v2"
_INIT_RANGE = 0.2
"""Wide random weights, so different images give different greedy outputs."""


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


def _tokenizer(
    special: list[str],
    *,
    bos: str | None,
    eos: str,
    pad: str,
    chat_template: str,
    extra: dict[str, str] | None = None,
    adds_bos: bool = False,
) -> PreTrainedTokenizerFast:
    """The demo model's BPE vocabulary plus this family's special tokens.

    ``adds_bos``: the tokenizer puts ``bos`` before every text, as Gemma's and Llama's do.
    """
    base = build_tokenizer()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=base.backend_tokenizer,
        bos_token=bos,
        eos_token=eos,
        pad_token=pad,
        padding_side="left",
        chat_template=chat_template,
        model_max_length=2048,
        extra_special_tokens=extra or {},
    )
    missing = [token for token in special if token not in tokenizer.get_vocab()]
    tokenizer.add_special_tokens({"additional_special_tokens": missing})
    if adds_bos and bos is not None:
        bos_id = tokenizer.convert_tokens_to_ids(bos)
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    return tokenizer


def _ids(tokenizer: PreTrainedTokenizerFast, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in tokens]


def _text_dims(tokenizer: PreTrainedTokenizerFast, **extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "initializer_range": _INIT_RANGE,
        **extra,
    }


def _save(
    model_config: PretrainedConfig,
    tokenizer: PreTrainedTokenizerFast,
    processor: ProcessorMixin,
    out_dir: Path,
    *,
    seed: int = 0,
) -> None:
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(model_config)
    _randomize_zero_weights(model)
    text = model_config.get_text_config()
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = text.eos_token_id
    model.generation_config.pad_token_id = text.pad_token_id
    model.generation_config.bos_token_id = text.bos_token_id
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / "chat_template.jinja").write_text(tokenizer.chat_template)


def _randomize_zero_weights(model: torch.nn.Module) -> None:
    """Weights a family initialises to zero would hide the image from an untrained model (Gemma
    3's projection, Mllama's cross-attention gates), and a test could not tell whether image
    tokens reach it: open the gates and draw the matrices at random, like the rest."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.any():
                continue
            if name.rsplit(".", 1)[-1].endswith("gate"):
                parameter.fill_(1.0)
            elif parameter.dim() >= 2:
                parameter.normal_(0.0, _INIT_RANGE)


# --- Qwen2.5-VL and Qwen3-VL: the demo model's template and tokens -------------------------

_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _qwen_tokenizer() -> PreTrainedTokenizerFast:
    return _tokenizer(
        QWEN_TOKENS, bos=None, eos="<|im_end|>", pad="<|endoftext|>", chat_template=_QWEN_TEMPLATE
    )


def _qwen_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    image, video, start, end = _ids(
        tokenizer, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"
    )
    return {
        "image_token_id": image,
        "video_token_id": video,
        "vision_start_token_id": start,
        "vision_end_token_id": end,
    }


def _qwen_image_processor(patch_size: int) -> Any:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    pixels = (patch_size * 4) ** 2  # 4x4 patches, merged 2x2 into 4 image tokens
    return Qwen2VLImageProcessorPil(
        patch_size=patch_size, merge_size=2, min_pixels=pixels, max_pixels=pixels
    )


def _build_qwen(
    out_dir: Path,
    config_class: type[PretrainedConfig],
    processor_class: type[ProcessorMixin],
    *,
    patch_size: int,
    text: dict[str, Any],
    vision: dict[str, Any],
) -> None:
    """A tiny Qwen-VL family checkpoint; ``text`` and ``vision`` hold what the versions differ
    in (rotary sections, head size, vision windows or deepstack layers)."""
    tokenizer = _qwen_tokenizer()
    eos, pad = _ids(tokenizer, "<|im_end|>", "<|endoftext|>")
    config = config_class(
        text_config=_text_dims(
            tokenizer, **text, bos_token_id=pad, eos_token_id=eos, pad_token_id=pad
        ),
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "out_hidden_size": 64,
            "patch_size": patch_size,
            "initializer_range": _INIT_RANGE,
            **vision,
        },
        **_qwen_token_ids(tokenizer),
    )
    processor = image_only_processor_class(processor_class)(
        _qwen_image_processor(patch_size), tokenizer, chat_template=_QWEN_TEMPLATE
    )
    _save(config, tokenizer, processor, out_dir)


def _build_qwen2_5_vl(out_dir: Path) -> None:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor

    head_dim = 64 // 4
    rope = {"rope_type": "default", "rope_theta": 10000.0}
    _build_qwen(
        out_dir,
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        patch_size=14,
        text={
            "rope_parameters": {
                **rope,
                "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
            }
        },
        vision={"window_size": 56, "fullatt_block_indexes": [1]},
    )


def _build_qwen3_vl(out_dir: Path) -> None:
    from transformers import Qwen3VLConfig, Qwen3VLProcessor

    rope = {"rope_type": "default", "rope_theta": 10000.0}
    _build_qwen(
        out_dir,
        Qwen3VLConfig,
        Qwen3VLProcessor,
        patch_size=16,
        text={
            "head_dim": 16,
            "rope_parameters": {**rope, "mrope_section": [4, 2, 2], "mrope_interleaved": True},
        },
        vision={"num_position_embeddings": 64, "deepstack_visual_indexes": [0]},
    )


# --- Gemma 3 (MedGemma) ---------------------------------------------------------------------

_GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<start_of_image>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _build_gemma3(out_dir: Path) -> None:
    from transformers import Gemma3Config, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    specials = ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"]
    image_tokens = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tokenizer = _tokenizer(
        specials + list(image_tokens.values()),
        bos="<bos>",
        eos="<end_of_turn>",
        pad="<pad>",
        chat_template=_GEMMA_TEMPLATE,
        extra=image_tokens,
        adds_bos=True,
    )
    bos, eos, pad, boi, eoi, image = _ids(
        tokenizer, "<bos>", "<end_of_turn>", "<pad>", *image_tokens.values()
    )
    tokens_per_image = 4
    config = Gemma3Config(
        text_config=_text_dims(
            tokenizer,
            head_dim=16,
            query_pre_attn_scalar=16,
            sliding_window=16,
            layer_types=["sliding_attention", "full_attention"],
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 56,
            "patch_size": 14,
        },
        mm_tokens_per_image=tokens_per_image,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
        initializer_range=_INIT_RANGE,
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": 56, "width": 56})
    processor = Gemma3Processor(
        image_processor, tokenizer, chat_template=_GEMMA_TEMPLATE, image_seq_length=tokens_per_image
    )
    _save(config, tokenizer, processor, out_dir)


# --- LLaVA (LLaVA-Med v1.5 converted to the transformers LLaVA class, Mistral text model) -----

_LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{{ 'USER: ' if message['role'] == 'user' else 'ASSISTANT: ' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ eos_token }}{% endif %} {% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _build_llava(out_dir: Path) -> None:
    from transformers import LlavaConfig, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = _tokenizer(
        ["<s>", "</s>", "<unk>", "<image>"],
        bos="<s>",
        eos="</s>",
        pad="<unk>",
        chat_template=_LLAVA_TEMPLATE,
        adds_bos=True,
    )
    bos, eos, pad, image = _ids(tokenizer, "<s>", "</s>", "<unk>", "<image>")
    config = LlavaConfig(
        text_config=_text_dims(
            tokenizer,
            model_type="mistral",
            head_dim=16,
            sliding_window=None,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "projection_dim": 64,
            "image_size": 28,
            "patch_size": 14,
        },
        image_token_index=image,
        image_seq_length=4,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        initializer_range=_INIT_RANGE,
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}
    )
    processor = LlavaProcessor(
        image_processor,
        tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_TEMPLATE,
    )
    _save(config, tokenizer, processor, out_dir)


# --- Idefics3 (SmolVLM) ----------------------------------------------------------------------

_IDEFICS_TEMPLATE = (
    "<|im_start|>{% for message in messages %}"
    "{{ message['role'] | capitalize }}:"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<image>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _build_idefics3(out_dir: Path, *, heads: int = 4) -> None:
    """``heads``: attention heads of the text model and the vision tower, both 64 wide, so 4
    heads are 16 wide and 2 heads are 32 wide (what vLLM's CPU attention needs)."""
    from transformers import Idefics3Config, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tiles = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<|im_start|>", "<|endoftext|>", "<end_of_utterance>", "<image>"]
    specials += ["<fake_token_around_image>", "<global-img>", *tiles]
    tokenizer = _tokenizer(
        specials,
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<|endoftext|>",
        chat_template=_IDEFICS_TEMPLATE,
    )
    bos, eos, pad, image = _ids(
        tokenizer, "<|im_start|>", "<end_of_utterance>", "<|endoftext|>", "<image>"
    )
    config = Idefics3Config(
        text_config=_text_dims(
            tokenizer,
            model_type="llama",
            num_attention_heads=heads,
            num_key_value_heads=heads // 2,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "image_size": 32,
            "patch_size": 8,
            "initializer_range": _INIT_RANGE,
        },
        image_token_id=image,
        scale_factor=2,
        pad_token_id=pad,
    )
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=True
    )
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=4, chat_template=_IDEFICS_TEMPLATE
    )
    _save(config, tokenizer, processor, out_dir)


# --- Llama 3.2 Vision (Mllama) ---------------------------------------------------------------

_LLAMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|image|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def _build_mllama(out_dir: Path) -> None:
    from transformers import MllamaConfig, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    specials = ["<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>"]
    specials += ["<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>"]
    tokenizer = _tokenizer(
        specials,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|finetune_right_pad_id|>",
        chat_template=_LLAMA_TEMPLATE,
        adds_bos=True,
    )
    bos, eos, pad, image = _ids(
        tokenizer, "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>"
    )
    config = MllamaConfig(
        text_config=_text_dims(
            tokenizer,
            num_hidden_layers=3,
            cross_attention_layers=[1],
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_global_layers": 1,
            "attention_heads": 4,
            "intermediate_layers_indices": [0],
            "vision_output_dim": 128,
            "image_size": 28,
            "patch_size": 14,
            "max_num_tiles": 4,
            "supported_aspect_ratios": [[1, 1], [1, 2], [2, 1], [1, 3], [3, 1], [1, 4], [2, 2]],
            "initializer_range": _INIT_RANGE,
        },
        image_token_index=image,
    )
    image_processor = MllamaImageProcessorPil(size={"height": 28, "width": 28}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor, tokenizer, chat_template=_LLAMA_TEMPLATE)
    _save(config, tokenizer, processor, out_dir)


def _build_qwen2_vl(out_dir: Path) -> None:
    write_demo_checkpoint(out_dir, seed=0)


FAMILIES: dict[str, FamilySpec] = {
    spec.model_type: spec
    for spec in [
        FamilySpec(
            "Qwen2-VL",
            "qwen2_vl",
            "Qwen2VLForConditionalGeneration",
            "Qwen2-VL-7B-Instruct; the project's reference models",
            "video processor left out (it needs torchvision): images only",
            _build_qwen2_vl,
        ),
        FamilySpec(
            "Qwen2.5-VL",
            "qwen2_5_vl",
            "Qwen2_5_VLForConditionalGeneration",
            "Qwen2.5-VL-7B-Instruct, the seed paper's RL models",
            "as Qwen2-VL; windowed attention in the vision tower",
            _build_qwen2_5_vl,
        ),
        FamilySpec(
            "Qwen3-VL",
            "qwen3_vl",
            "Qwen3VLForConditionalGeneration",
            "Qwen3-VL-8B-Instruct",
            "as Qwen2-VL; 16 px patches, DeepStack features, interleaved M-RoPE",
            _build_qwen3_vl,
        ),
        FamilySpec(
            "Gemma 3",
            "gemma3",
            "Gemma3ForConditionalGeneration",
            "MedGemma 4B/27B multimodal",
            "`token_type_ids` extended over the scored answer; sliding-window layers",
            _build_gemma3,
        ),
        FamilySpec(
            "LLaVA",
            "llava",
            "LlavaForConditionalGeneration",
            "LLaVA-Med v1.5 converted to the transformers LLaVA format",
            "Mistral text model as in LLaVA-Med v1.5",
            _build_llava,
        ),
        FamilySpec(
            "Idefics3",
            "idefics3",
            "Idefics3ForConditionalGeneration",
            "SmolVLM (v1), Idefics3-8B",
            "images split into tiles plus a global view",
            _build_idefics3,
        ),
        FamilySpec(
            "Llama 3.2 Vision",
            "mllama",
            "MllamaForConditionalGeneration",
            "Llama-3.2-11B-Vision-Instruct",
            "cross-attention: items without an image run in a batch of their own",
            _build_mllama,
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
    from service.reference.prepare import _build_once

    target = Path(cache_dir) / "models" / f"tiny-{model_type}-{FAMILIES_VERSION}"
    return _build_once(
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
    _build_idefics3(out_dir, heads=2)
    return out_dir


def ensure_vllm_checkpoint(cache_dir: Path) -> Path:
    """The cached vLLM-servable checkpoint under ``<cache_dir>/models/``, built once."""
    from service.reference.prepare import _build_once

    target = Path(cache_dir) / "models" / f"tiny-{VLLM_FAMILY}-vllm-{VLLM_VERSION}"
    return _build_once(
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
