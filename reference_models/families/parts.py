"""What every family builder shares: the demo model's BPE vocabulary with the family's special
tokens, the tiny text-model dimensions, and saving a random checkpoint folder."""

from __future__ import annotations

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

from reference_models.demo_model import build_tokenizer

INIT_RANGE = 0.2
"""Wide random weights, so different images give different greedy outputs."""


def family_tokenizer(
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


def token_ids(tokenizer: PreTrainedTokenizerFast, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(token) for token in tokens]


def text_dims(tokenizer: PreTrainedTokenizerFast, **extra: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "initializer_range": INIT_RANGE,
        **extra,
    }


def save_family_checkpoint(
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
                parameter.normal_(0.0, INIT_RANGE)
