"""LLaVA (LLaVA-Med v1.5 converted to the transformers LLaVA class, Mistral text model)."""

from __future__ import annotations

from pathlib import Path

from reference_models.families.parts import (
    INIT_RANGE,
    family_tokenizer,
    save_family_checkpoint,
    text_dims,
    token_ids,
)

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


def build_llava(out_dir: Path) -> None:
    from transformers import LlavaConfig, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = family_tokenizer(
        ["<s>", "</s>", "<unk>", "<image>"],
        bos="<s>",
        eos="</s>",
        pad="<unk>",
        chat_template=_LLAVA_TEMPLATE,
        adds_bos=True,
    )
    bos, eos, pad, image = token_ids(tokenizer, "<s>", "</s>", "<unk>", "<image>")
    config = LlavaConfig(
        text_config=text_dims(
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
        initializer_range=INIT_RANGE,
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
    save_family_checkpoint(config, tokenizer, processor, out_dir)
