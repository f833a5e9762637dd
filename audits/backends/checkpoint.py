"""What a checkpoint folder holds, read without its weights: the config (an image-text-to-text
model type transformers knows), the image-only processor, and the image size the model
consumes. The runtime's start-up checks and ``grounding-audit check-model`` use these."""

from __future__ import annotations

import json
from pathlib import Path

import transformers
from transformers import AutoConfig, PretrainedConfig, ProcessorMixin
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from audits.backends.processor import UnsupportedCheckpoint, load_image_only_processor


def load_config(model_dir: Path) -> PretrainedConfig:
    """The folder's config, if transformers knows its model type as an image-text-to-text one."""
    raw = json.loads((model_dir / "config.json").read_text())
    model_type = raw.get("model_type", "?")
    architectures = ", ".join(raw.get("architectures") or ["?"])
    try:
        config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    except (ValueError, KeyError) as error:
        raise UnsupportedCheckpoint(
            f"{model_dir}: architecture {architectures} (model type {model_type!r}) is not in "
            f"transformers {transformers.__version__}; convert the checkpoint to a transformers "
            "model class or upgrade transformers"
        ) from error
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise UnsupportedCheckpoint(
            f"{model_dir}: architecture {architectures} (model type {config.model_type!r}) is "
            f"not an image-text-to-text model in transformers {transformers.__version__}; "
            "the service needs a vision-language checkpoint"
        )
    return config


def check_checkpoint(model_dir: Path) -> tuple[PretrainedConfig, ProcessorMixin]:
    """Config and processor of a folder, without the weights: the cheap start-up checks."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no Hugging Face checkpoint (config.json) in {model_dir}")
    config = load_config(model_dir)
    return config, load_image_only_processor(model_dir, config.model_type)


def max_image_pixels(processor: ProcessorMixin) -> int | None:
    """Pixels of the largest image the model consumes (its processor scales bigger ones down);
    None when the processor does not say."""
    images = processor.image_processor
    explicit = getattr(images, "max_pixels", None)
    if isinstance(explicit, int):
        return explicit
    size = getattr(images, "size", None) or {}
    get = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
    if hasattr(images, "merge_size"):  # Qwen2-VL family: size holds pixel counts
        longest = get("longest_edge")
        return int(longest) if longest else None
    height, width = get("height"), get("width")
    return int(height) * int(width) if height and width else None
