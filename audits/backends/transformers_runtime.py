"""Model runtime: a local Hugging Face image-text-to-text checkpoint; batched generate, score."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForImageTextToText,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    StoppingCriteria,
    StoppingCriteriaList,
)

from audits.backends.checkpoint import check_checkpoint, max_image_pixels
from audits.backends.processor import UnsupportedCheckpoint
from audits.contracts.backend import (
    BackendBase,
    BackendCapabilities,
    Generation,
    GenerationInterrupted,
    GenerationParams,
    VLMBackend,
    VLMInput,
)

__all__ = [
    "TransformersRuntime",
    "UnsupportedCheckpoint",
    "VLMBackend",
    "VLMInput",
    "chat_prompt",
    "check_checkpoint",
    "starts_with_bos",
]

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


def starts_with_bos(tokenizer: PreTrainedTokenizerBase, prompt: str) -> bool:
    """Whether the chat template wrote the BOS token itself (Gemma 3, Llama 3.2 Vision): then
    the tokenizer must not add a second one, which would shift every log-probability."""
    return bool(tokenizer.bos_token) and prompt.startswith(tokenizer.bos_token)


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


TEXT_ONLY_APART = frozenset({"mllama"})
"""Cross-attention families: an item without an image skips the cross-attention layers alone,
but in a batch with images it attends (uniformly, masked rows) to a padding image; so such
items run in their own batch."""


def _by_image_presence(
    items: Sequence[VLMInput], run: Callable[[list[int]], list[Any]]
) -> list[Any]:
    """run(indices) over the items with an image, then over those without; results in order."""
    results: list[Any] = [None] * len(items)
    with_image = [i for i, item in enumerate(items) if item.image is not None]
    without = [i for i, item in enumerate(items) if item.image is None]
    for group in (with_image, without):
        if group:
            for index, result in zip(group, run(group), strict=True):
                results[index] = result
    return results


GENERATION_STATE = ("rope_deltas",)
"""Attributes a model's modules keep between decoding steps of one generate call (Qwen2-VL,
Qwen2.5-VL, Qwen3-VL: the multimodal rotary offsets of the batch); a call run inside
``should_stop`` would overwrite them, so they are saved and put back around it."""


class TransformersRuntime(BackendBase):
    """Greedy, deterministic batched inference over a local checkpoint folder.

    Start-up loads the config, processor and model, then runs one probe (a generate step and a
    score, with and without an image), so a family the runtime cannot serve fails here with
    ``UnsupportedCheckpoint`` naming its architecture, never on the first request.

    Preemptible: ``generate``'s ``should_stop`` may run other calls on this runtime (the
    engine's production requests); the model's per-generation state is put back after each.
    """

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
        config, self.processor = check_checkpoint(model_dir)
        self.model_dir = model_dir
        self.model_name = model_name or model_dir.name
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_new_tokens = max_new_tokens
        self.separate_text_only = config.model_type in TEXT_ONLY_APART
        self.architecture = ", ".join(config.architectures or [type(config).__name__])
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForImageTextToText.from_pretrained(
            model_dir, config=config, dtype=self.dtype, local_files_only=True
        ).to(self.device)
        self.model.eval()
        self._state_holders = [
            module
            for module in self.model.modules()
            if any(hasattr(module, name) for name in GENERATION_STATE)
        ]
        self.capabilities = BackendCapabilities(
            preemption=True, max_image_pixels=max_image_pixels(self.processor)
        )
        self._probe()
        log.info("loaded %s (%s) on %s (%s)", model_dir, self.architecture, self.device, self.dtype)

    def _probe(self) -> None:
        from PIL import Image

        probe = [VLMInput("Is there a lesion?", Image.new("RGB", (64, 48), (90, 90, 90)))]
        probe.append(VLMInput("Is there a lesion?", None))
        try:
            self.generate(probe, max_new_tokens=1)
            self.score(probe, ["yes", "no"])
        except Exception as error:
            raise UnsupportedCheckpoint(
                f"{self.model_dir}: the runtime cannot serve {self.architecture}: a probe "
                f"request failed with {type(error).__name__}: {error}"
            ) from error

    def _keeping_state(self, should_stop: Callable[[], bool]) -> Callable[[], bool]:
        """``should_stop`` with the model's per-generation state (``GENERATION_STATE``) put
        back after it, whatever it ran on this model meanwhile."""

        def poll() -> bool:
            saved = [
                (holder, name, getattr(holder, name))
                for holder in self._state_holders
                for name in GENERATION_STATE
                if hasattr(holder, name)
            ]
            try:
                return should_stop()
            finally:
                for holder, name, value in saved:
                    setattr(holder, name, value)

        return poll

    def _prompt(self, item: VLMInput) -> str:
        return chat_prompt(self.processor, item)

    def _encode(self, items: Sequence[VLMInput]) -> dict[str, torch.Tensor]:
        prompts = [self._prompt(item) for item in items]
        # one list of images per prompt: processors that pair images with prompts (Gemma 3,
        # Idefics3, Mllama) need it when some items have no image; the others flatten it
        images = [[item.image] if item.image is not None else [] for item in items]
        has_images = any(images)
        encoded = self.processor(
            text=prompts,
            images=images if has_images else None,
            padding=True,
            return_tensors="pt",
            add_special_tokens=not starts_with_bos(self.tokenizer, prompts[0]),
        )
        return {key: value.to(self.device) for key, value in encoded.items()}

    def _mixes_text_only(self, items: Sequence[VLMInput]) -> bool:
        return self.separate_text_only and len({item.image is None for item in items}) > 1

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
        stopper = _StopWhen(self._keeping_state(should_stop)) if should_stop is not None else None
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
        if self._mixes_text_only(items):
            return _by_image_presence(
                items,
                lambda group: self.generate(
                    [items[i] for i in group],
                    max_new_tokens=max_new_tokens,
                    temperature=temperature,
                    seed=seed,
                    should_stop=should_stop,
                ),
            )
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
        if self._mixes_text_only(items):
            return _by_image_presence(
                items, lambda group: self.generate_detailed([items[i] for i in group], params)
            )
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
        if self.separate_text_only and len({item.image is None for item in items}) > 1:
            return _by_image_presence(
                items,
                lambda group: self.score([items[i] for i in group], [answers[i] for i in group]),
            )
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
        inputs = _append_tokens(inputs, appended, appended_mask)
        logits = self.model(**inputs).logits.float()
        predicting = logits[:, prompt_len - 1 : prompt_len - 1 + width, :]
        logprobs = torch.log_softmax(predicting, dim=-1)
        token_logps = logprobs.gather(-1, appended.unsqueeze(-1)).squeeze(-1) * appended_mask
        return [float(value) for value in token_logps.sum(dim=1).cpu()]


_PER_TOKEN_TYPE_IDS = ("token_type_ids", "mm_token_type_ids")
"""Per-token modality ids (Gemma 3, Qwen-VL): answer tokens are text, type 0."""


def _append_tokens(
    inputs: dict[str, torch.Tensor], appended: torch.Tensor, appended_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The model inputs of prompt + appended answer tokens, every per-token input extended."""
    batch, prompt_len = inputs["input_ids"].shape
    extended = dict(inputs)
    extended["input_ids"] = torch.cat([inputs["input_ids"], appended], dim=1)
    extended["attention_mask"] = torch.cat([inputs["attention_mask"], appended_mask], dim=1)
    for key, value in inputs.items():
        if key in {"input_ids", "attention_mask"} or value.dim() < 2:
            continue
        if tuple(value.shape[:2]) != (batch, prompt_len):
            continue
        if key in _PER_TOKEN_TYPE_IDS:
            extended[key] = torch.cat([value, torch.zeros_like(appended, dtype=value.dtype)], 1)
        elif key == "cross_attention_mask":
            # Mllama: answer tokens see the images the last prompt token sees, as in generate
            last = value[:, -1:].expand(-1, appended.shape[1], *value.shape[2:])
            extended[key] = torch.cat([value, last], dim=1)
        else:
            raise UnsupportedCheckpoint(
                f"the processor returns a per-token input {key!r} the runtime cannot extend "
                "over an appended answer"
            )
    return extended
