"""Gemma 3 (MedGemma)."""

from __future__ import annotations

from pathlib import Path

from reference_models.families.parts import (
    INIT_RANGE,
    family_tokenizer,
    save_family_checkpoint,
    text_dims,
    token_ids,
)

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


def build_gemma3(out_dir: Path) -> None:
    from transformers import Gemma3Config, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    specials = ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>"]
    image_tokens = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tokenizer = family_tokenizer(
        specials + list(image_tokens.values()),
        bos="<bos>",
        eos="<end_of_turn>",
        pad="<pad>",
        chat_template=_GEMMA_TEMPLATE,
        extra=image_tokens,
        adds_bos=True,
    )
    bos, eos, pad, boi, eoi, image = token_ids(
        tokenizer, "<bos>", "<end_of_turn>", "<pad>", *image_tokens.values()
    )
    tokens_per_image = 4
    config = Gemma3Config(
        text_config=text_dims(
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
        initializer_range=INIT_RANGE,
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": 56, "width": 56})
    processor = Gemma3Processor(
        image_processor, tokenizer, chat_template=_GEMMA_TEMPLATE, image_seq_length=tokens_per_image
    )
    save_family_checkpoint(config, tokenizer, processor, out_dir)
