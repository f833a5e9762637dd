"""Llama 3.2 Vision (Mllama)."""

from __future__ import annotations

from pathlib import Path

from reference_models.families.parts import (
    INIT_RANGE,
    family_tokenizer,
    save_family_checkpoint,
    text_dims,
    token_ids,
)

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


def build_mllama(out_dir: Path) -> None:
    from transformers import MllamaConfig, MllamaProcessor
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    specials = ["<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>"]
    specials += ["<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>"]
    tokenizer = family_tokenizer(
        specials,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|finetune_right_pad_id|>",
        chat_template=_LLAMA_TEMPLATE,
        adds_bos=True,
    )
    bos, eos, pad, image = token_ids(
        tokenizer, "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>"
    )
    config = MllamaConfig(
        text_config=text_dims(
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
            "initializer_range": INIT_RANGE,
        },
        image_token_index=image,
    )
    image_processor = MllamaImageProcessorPil(size={"height": 28, "width": 28}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor, tokenizer, chat_template=_LLAMA_TEMPLATE)
    save_family_checkpoint(config, tokenizer, processor, out_dir)
