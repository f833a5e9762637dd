"""Checkpoints the runtime cannot serve fail at start-up naming the architecture and the gap."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from audits.backends.transformers_runtime import TransformersRuntime, UnsupportedCheckpoint
from reference_models.demo_model import build_tokenizer


def _write_config(folder: Path, config: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_original_llava_med_names_its_architecture(tmp_path: Path) -> None:
    """LLaVA-Med v1.5 as released uses its own code (llava_mistral), not a transformers class."""
    folder = _write_config(
        tmp_path / "llava-med-v1.5-mistral-7b",
        {"model_type": "llava_mistral", "architectures": ["LlavaMistralForCausalLM"]},
    )
    with pytest.raises(UnsupportedCheckpoint, match=r"LlavaMistralForCausalLM.*llava_mistral"):
        TransformersRuntime(folder, device="cpu")


def test_a_text_only_model_is_refused_by_name(tmp_path: Path) -> None:
    from transformers import LlamaConfig

    config = LlamaConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    config.architectures = ["LlamaForCausalLM"]
    folder = tmp_path / "text-only"
    config.save_pretrained(folder)
    with pytest.raises(UnsupportedCheckpoint, match=r"LlamaForCausalLM.*not an image-text-to-text"):
        TransformersRuntime(folder, device="cpu")


@pytest.mark.skipif(
    importlib.util.find_spec("num2words") is not None, reason="num2words is installed"
)
def test_smolvlm2_without_num2words_names_the_package(tmp_path: Path) -> None:
    from transformers import SmolVLMConfig

    config = SmolVLMConfig()
    config.architectures = ["SmolVLMForConditionalGeneration"]
    folder = tmp_path / "smolvlm2"
    config.save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    (folder / "processor_config.json").write_text(
        json.dumps(
            {
                "processor_class": "SmolVLMProcessor",
                "image_processor": {"image_processor_type": "SmolVLMImageProcessor"},
            }
        )
    )
    with pytest.raises(UnsupportedCheckpoint, match=r"SmolVLMProcessor.*num2words"):
        TransformersRuntime(folder, device="cpu")


def test_a_processor_that_breaks_on_a_request_fails_at_start_up(
    tmp_path: Path, cache_dir: Path
) -> None:
    """A folder whose chat template drops the image: the start-up probe fails, not a request."""
    import shutil

    from reference_models.families.registry import ensure_family_checkpoint

    folder = tmp_path / "broken-llava"
    shutil.copytree(ensure_family_checkpoint("llava", cache_dir), folder)
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").write_text(template.replace("<image>", ""))
    with pytest.raises(UnsupportedCheckpoint, match=r"LlavaForConditionalGeneration.*probe"):
        TransformersRuntime(folder, device="cpu")


def test_serve_and_check_model_stop_before_bentoml_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    folder = _write_config(
        tmp_path / "llava-med", {"model_type": "llava_mistral", "architectures": ["LlavaMistral"]}
    )
    monkeypatch.setenv("GROUNDING_MODEL_PATH", str(folder))
    assert main(["serve", "--model-path", str(folder)]) == 2
    assert main(["check-model", str(folder)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2
    assert all(line.startswith("cannot serve:") and "LlavaMistral" in line for line in errors)
