"""Image-only processors: a family's own processor class without its video sub-processor.

Qwen2-VL, Qwen2.5-VL, Qwen3-VL and SmolVLM processors carry a video processor that needs
torchvision. The service never sends video, so it loads the family's processor class with the
video attribute removed; image processors fall back to their PIL versions without torchvision.
"""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, ProcessorMixin, Qwen2VLProcessor
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES


class UnsupportedCheckpoint(RuntimeError):
    """A checkpoint folder the runtime cannot serve; the message names what is missing."""


@cache
def image_only_processor_class(processor_class: type[ProcessorMixin]) -> type[ProcessorMixin]:
    """The processor class itself, or a same-named subclass without ``video_processor``."""
    if "video_processor" not in processor_class.get_attributes():
        return processor_class
    leading = list(inspect.signature(processor_class.__init__).parameters)[1:4]
    if leading != ["image_processor", "tokenizer", "video_processor"]:
        raise UnsupportedCheckpoint(
            f"{processor_class.__name__} takes ({', '.join(leading)}, ...); the runtime can only "
            "drop a video processor passed third"
        )

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None, **kwargs: Any):
        kwargs.pop("video_processor", None)
        processor_class.__init__(self, image_processor, tokenizer, None, **kwargs)

    def get_attributes(cls: type) -> list[str]:
        return [name for name in processor_class.get_attributes() if name != "video_processor"]

    return type(
        processor_class.__name__,
        (processor_class,),
        {
            "__init__": __init__,
            "get_attributes": classmethod(get_attributes),
            "__module__": __name__,
            "__doc__": f"{processor_class.__name__} without its video processor.",
        },
    )


ImageOnlyQwen2VLProcessor = image_only_processor_class(Qwen2VLProcessor)


def processor_class_for(model_type: str) -> type[ProcessorMixin]:
    """The family's own processor class (transformers' registry), image-only."""
    import transformers

    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    processor_class = getattr(transformers, name, None) if isinstance(name, str) else None
    if processor_class is None:
        raise UnsupportedCheckpoint(
            f"transformers {transformers.__version__} has no processor class for model type "
            f"{model_type!r}"
        )
    return image_only_processor_class(processor_class)


def load_image_only_processor(model_dir: Path, model_type: str) -> ProcessorMixin:
    """The folder's processor: tokenizer, image-processor config, chat template, processor kwargs.

    Works whether or not torchvision is installed.
    """
    processor_class = processor_class_for(model_type)
    try:
        processor = processor_class.from_pretrained(model_dir, local_files_only=True)
    except ImportError as error:
        raise UnsupportedCheckpoint(
            f"the {processor_class.__name__} of {model_dir} needs a package that is not "
            f"installed: {error}"
        ) from error
    if not processor.chat_template:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        processor.chat_template = getattr(tokenizer, "chat_template", None)
    if not processor.chat_template:
        raise UnsupportedCheckpoint(
            f"{model_dir} has no chat template (chat_template.jinja or .json, or in the tokenizer)"
        )
    return processor
