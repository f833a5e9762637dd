"""Model runtime: a local Hugging Face image-text-to-text checkpoint; batched generate, score."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    ProcessorMixin,
    StoppingCriteria,
    StoppingCriteriaList,
)

from audits.backends.processor import load_image_only_processor
from audits.contracts.backend import (
    Generation,
    GenerationInterrupted,
    GenerationParams,
    VLMBackend,
    VLMInput,
)

__all__ = ["TransformersRuntime", "VLMBackend", "VLMInput", "chat_prompt"]

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def chat_prompt(processor: ProcessorMixin, item: VLMInput) -> str:
    """The prompt text of one call: a user turn [image?, question], then the assistant prefill.

    Training uses the same function, so a trained model sees exactly what it is served.
    """
    content: list[dict[str, str]] = []
    if item.image is not None:
        content.append({"type": "image"})
    content.append({"type": "text", "text": item.question})
    messages = [{"role": "user", "content": content}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt + item.prefill


class _StopWhen(StoppingCriteria):
    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop
        self.fired = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **_: object):
        self.fired = self.fired or self.should_stop()
        return torch.full((input_ids.shape[0],), self.fired, device=input_ids.device)


def _stop_token_ids(model: torch.nn.Module, tokenizer: object) -> set[int]:
    """Token ids that end a generated answer (the generation config's EOS, else the tokenizer's)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(eos)} if isinstance(eos, int) else {int(token) for token in eos}


class TransformersRuntime:
    """Greedy, deterministic batched inference over a local checkpoint folder."""

    supports_preemption = True

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: int = 32,
        model_name: str | None = None,
    ) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"no Hugging Face checkpoint (config.json) in {model_dir}")
        self.model_dir = model_dir
        self.model_name = model_name or model_dir.name
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_new_tokens = max_new_tokens
        config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
        self.processor = load_image_only_processor(model_dir)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_dir, config=config, dtype=self.dtype, local_files_only=True
        ).to(self.device)
        self.model.eval()
        log.info("loaded %s on %s (%s)", model_dir, self.device, self.dtype)

    def _prompt(self, item: VLMInput) -> str:
        return chat_prompt(self.processor, item)

    def _encode(self, items: Sequence[VLMInput]) -> dict[str, torch.Tensor]:
        prompts = [self._prompt(item) for item in items]
        images = [item.image for item in items if item.image is not None]
        encoded = self.processor(
            text=prompts, images=images or None, padding=True, return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in encoded.items()}

    @torch.inference_mode()
    def _generate_tokens(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None,
        temperature: float,
        seed: int | None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The encoded prompts and the newly generated token ids (one row per item)."""
        inputs = self._encode(items)
        sampling = temperature > 0
        if sampling and seed is not None:
            torch.manual_seed(seed)
        stopper = _StopWhen(should_stop) if should_stop is not None else None
        output = self.model.generate(
            **inputs,
            stopping_criteria=StoppingCriteriaList([stopper]) if stopper else None,
            max_new_tokens=max_new_tokens or self.max_new_tokens,
            do_sample=sampling,
            temperature=temperature if sampling else None,
            top_p=None,
            top_k=None,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if stopper is not None and stopper.fired:
            raise GenerationInterrupted("generation stopped for more urgent work")
        return inputs, output[:, inputs["input_ids"].shape[1] :]

    def generate(
        self,
        items: Sequence[VLMInput],
        *,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[str]:
        if not items:
            return []
        _, new_tokens = self._generate_tokens(
            items,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            seed=seed,
            should_stop=should_stop,
        )
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)

    def generate_detailed(
        self, items: Sequence[VLMInput], params: GenerationParams
    ) -> list[Generation]:
        """Outputs with prompt and completion token counts and why decoding ended."""
        if not items:
            return []
        budget = params.max_new_tokens or self.max_new_tokens
        inputs, new_tokens = self._generate_tokens(
            items, max_new_tokens=budget, temperature=params.temperature, seed=params.seed
        )
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        stops = _stop_token_ids(self.model, self.tokenizer)
        results = []
        for row, text in enumerate(texts):
            ids = new_tokens[row].tolist()
            end = next((i for i, token in enumerate(ids) if token in stops), None)
            results.append(
                Generation(
                    text=text,
                    prompt_tokens=int(prompt_tokens[row]),
                    completion_tokens=len(ids) if end is None else end + 1,
                    finish_reason="length" if end is None and len(ids) >= budget else "stop",
                )
            )
        return results

    @torch.inference_mode()
    def score(self, items: Sequence[VLMInput], answers: Sequence[str]) -> list[float]:
        """Teacher-forced log-probability of each answer string after its prompt, in one pass."""
        if len(items) != len(answers):
            raise ValueError("score needs one answer per item")
        if not items:
            return []
        inputs = self._encode(items)
        answer_ids = [self.tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers]
        width = max(1, max(len(ids) for ids in answer_ids))
        batch = len(items)
        pad_id = self.tokenizer.pad_token_id
        appended = torch.full((batch, width), pad_id, dtype=torch.long, device=self.device)
        appended_mask = torch.zeros((batch, width), dtype=inputs["attention_mask"].dtype)
        for row, ids in enumerate(answer_ids):
            appended[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            appended_mask[row, : len(ids)] = 1
        appended_mask = appended_mask.to(self.device)
        prompt_len = inputs["input_ids"].shape[1]
        inputs["input_ids"] = torch.cat([inputs["input_ids"], appended], dim=1)
        inputs["attention_mask"] = torch.cat([inputs["attention_mask"], appended_mask], dim=1)
        if "mm_token_type_ids" in inputs:
            zeros = torch.zeros_like(appended, dtype=inputs["mm_token_type_ids"].dtype)
            inputs["mm_token_type_ids"] = torch.cat([inputs["mm_token_type_ids"], zeros], dim=1)
        logits = self.model(**inputs).logits.float()
        predicting = logits[:, prompt_len - 1 : prompt_len - 1 + width, :]
        logprobs = torch.log_softmax(predicting, dim=-1)
        token_logps = logprobs.gather(-1, appended.unsqueeze(-1)).squeeze(-1) * appended_mask
        return [float(value) for value in token_logps.sum(dim=1).cpu()]
