"""Image-only Qwen2-VL processors that work without torchvision.

The stock Qwen2-VL / Qwen2.5-VL processors carry a video sub-processor that needs torchvision.
The service never sends video, so it uses a processor class without that attribute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoProcessor, AutoTokenizer, Qwen2VLConfig, Qwen2VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.video_token = "<|video_pad|>"
        self.video_token_id = None
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)

    @classmethod
    def get_attributes(cls) -> list[str]:
        return ["image_processor", "tokenizer"]


def register_processor() -> None:
    """Make AutoProcessor return the image-only processor for folders written by this project."""
    try:
        AutoProcessor.register(Qwen2VLConfig, ImageOnlyQwen2VLProcessor, exist_ok=True)
    except TypeError:  # older transformers without exist_ok
        AutoProcessor.register(Qwen2VLConfig, ImageOnlyQwen2VLProcessor)


def load_image_only_processor(model_dir: Path) -> ImageOnlyQwen2VLProcessor:
    """Build the processor from the folder's tokenizer, image-processor config and chat template.

    Works for any Qwen2-VL / Qwen2.5-VL checkpoint folder whether or not torchvision is installed.
    """
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(model_dir, local_files_only=True)
    chat_template = _read_chat_template(model_dir) or getattr(tokenizer, "chat_template", None)
    if not chat_template:
        raise ValueError(f"{model_dir} has no chat template (chat_template.jinja or .json)")
    return ImageOnlyQwen2VLProcessor(image_processor, tokenizer, chat_template=chat_template)


def _read_chat_template(model_dir: Path) -> str | None:
    import json

    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    as_json = model_dir / "chat_template.json"
    if as_json.is_file():
        return json.loads(as_json.read_text()).get("chat_template")
    return None
