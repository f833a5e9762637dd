"""Write a tiny Qwen2-VL checkpoint folder built offline: model, tokenizer, processor, template.

The same seed gives byte-identical files, so the embedded default model needs no download.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from audits.backends.processor import ImageOnlyQwen2VLProcessor
from audits.data.phantom_reasoning import PHRASES

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

IMAGE_SIDE = 56
"""The processor resizes every image to 56x56: 16 patches of 14 px, merged 2x2 into 4 tokens."""

_CORPUS = [
    "Is there a lesion? yes no",
    "Which side is the lesion on? left right",
    "What modality is this? xray ct mri ultrasound",
    "The image shows a bright round lesion in the left lung. Answer: yes",
    "There is no effusion. The chest x-ray demonstrates a nodule on the right side.",
    "<think>The scan appears normal.</think><answer>no</answer>",
    "A B C D E option (A) (B) the answer is",
    "user assistant system image question answer finding opacity mass",
    # phantom answers on their own, so each is one token at the start of the assistant turn
    "yes",
    "no",
    "left",
    "right",
    "xray",
    "ct",
    # the reference reasoners' sentences (audits/data/phantom_reasoning.py)
    *PHRASES,
]


def build_tokenizer(vocab_size: int = 768) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
        model_max_length=2048,
    )


def build_config(tokenizer: PreTrainedTokenizerFast, init_range: float = 0.2) -> Qwen2VLConfig:
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    head_dim = 128 // 4
    return Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 128,
            "intermediate_size": 256,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "initializer_range": init_range,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            "tie_word_embeddings": True,
        },
        vision_config={
            "depth": 4,
            "embed_dim": 64,
            "hidden_size": 128,
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "initializer_range": init_range,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )


def build_image_processor() -> Qwen2VLImageProcessorPil:
    pixels = IMAGE_SIDE * IMAGE_SIDE
    return Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels)


def write_demo_checkpoint(out_dir: Path, seed: int = 0) -> Path:
    """Write a random-weight tiny Qwen2-VL folder; byte-identical for the same seed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = build_config(tokenizer)
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.do_sample = False
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    save_checkpoint(model, tokenizer, out_dir)
    return out_dir


def save_checkpoint(
    model: Qwen2VLForConditionalGeneration, tokenizer: PreTrainedTokenizerFast, out_dir: Path
) -> None:
    model.save_pretrained(out_dir)
    processor = ImageOnlyQwen2VLProcessor(
        build_image_processor(), tokenizer, chat_template=CHAT_TEMPLATE
    )
    processor.save_pretrained(out_dir)
    (out_dir / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    _canonicalize_json_files(out_dir)


def _canonicalize_json_files(out_dir: Path) -> None:
    """Rewrite JSON files with sorted keys so that repeated builds are byte-identical."""
    for path in sorted(out_dir.glob("*.json")):
        data = json.loads(path.read_text())
        data.pop("transformers_version", None)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder to write the checkpoint")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    path = write_demo_checkpoint(args.out, seed=args.seed)
    print(f"wrote tiny Qwen2-VL checkpoint to {path}")
    return 0
