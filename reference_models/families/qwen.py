"""Qwen2-VL (the demo model itself), Qwen2.5-VL and Qwen3-VL: the demo model's chat template
and special tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import PretrainedConfig, PreTrainedTokenizerFast, ProcessorMixin

from audits.backends.processor import image_only_processor_class
from reference_models.demo_model import CHAT_TEMPLATE, write_demo_checkpoint
from reference_models.demo_model import SPECIAL_TOKENS as QWEN_TOKENS
from reference_models.families.parts import (
    INIT_RANGE,
    family_tokenizer,
    save_family_checkpoint,
    text_dims,
    token_ids,
)


def build_qwen2_vl(out_dir: Path) -> None:
    write_demo_checkpoint(out_dir, seed=0)


def _qwen_tokenizer() -> PreTrainedTokenizerFast:
    return family_tokenizer(
        QWEN_TOKENS, bos=None, eos="<|im_end|>", pad="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )


def _qwen_token_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    image, video, start, end = token_ids(
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
    eos, pad = token_ids(tokenizer, "<|im_end|>", "<|endoftext|>")
    config = config_class(
        text_config=text_dims(
            tokenizer, **text, bos_token_id=pad, eos_token_id=eos, pad_token_id=pad
        ),
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 4,
            "out_hidden_size": 64,
            "patch_size": patch_size,
            "initializer_range": INIT_RANGE,
            **vision,
        },
        **_qwen_token_ids(tokenizer),
    )
    processor = image_only_processor_class(processor_class)(
        _qwen_image_processor(patch_size), tokenizer, chat_template=CHAT_TEMPLATE
    )
    save_family_checkpoint(config, tokenizer, processor, out_dir)


def build_qwen2_5_vl(out_dir: Path) -> None:
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


def build_qwen3_vl(out_dir: Path) -> None:
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
