"""Idefics3 (SmolVLM)."""

from __future__ import annotations

from pathlib import Path

from reference_models.families.parts import (
    INIT_RANGE,
    family_tokenizer,
    save_family_checkpoint,
    text_dims,
    token_ids,
)

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


def build_idefics3(out_dir: Path, *, heads: int = 4) -> None:
    """``heads``: attention heads of the text model and the vision tower, both 64 wide, so 4
    heads are 16 wide and 2 heads are 32 wide (what vLLM's CPU attention needs)."""
    from transformers import Idefics3Config, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tiles = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<|im_start|>", "<|endoftext|>", "<end_of_utterance>", "<image>"]
    specials += ["<fake_token_around_image>", "<global-img>", *tiles]
    tokenizer = family_tokenizer(
        specials,
        bos="<|im_start|>",
        eos="<end_of_utterance>",
        pad="<|endoftext|>",
        chat_template=_IDEFICS_TEMPLATE,
    )
    bos, eos, pad, image = token_ids(
        tokenizer, "<|im_start|>", "<end_of_utterance>", "<|endoftext|>", "<image>"
    )
    config = Idefics3Config(
        text_config=text_dims(
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
            "initializer_range": INIT_RANGE,
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
    save_family_checkpoint(config, tokenizer, processor, out_dir)
