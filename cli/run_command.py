"""`grounding-audit run`: the offline counterfactual audit of a manifest.

    grounding-audit run --manifest data.jsonl --model ./checkpoint --out audit/
    grounding-audit run --manifest data.jsonl --model grounded_reasoner --limit 200 --out audit/
    grounding-audit run --manifest data.jsonl --url http://audit.example:3000 \\
        --api-key "$KEY" --concurrency 16 --out audit/
    OPENAI_API_KEY=... grounding-audit run --manifest data.jsonl \\
        --openai-url http://vllm.internal:8000/v1 --model qwen25vl-7b --out audit/

Runs real, shuffled, blank and no_image for every item and writes ``results.jsonl`` (resumable:
run the same command again after an interruption), ``report.json``, ``report.md``,
``report.html`` and ``items.jsonl`` into ``--out``, then prints the per-benchmark table.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from audits.backends.openai_http import UpstreamError
from audits.backends.registry import BACKENDS, BackendOptions, backend_kind
from audits.contracts.backend import VLMBackend
from audits.contracts.types import Condition
from audits.data.manifest import read_manifest
from audits.offline.http_client import AuditRequestError, HttpAuditClient
from audits.offline.local_auditor import DEFAULT_BATCH_ITEMS
from audits.offline.run_records import RunMismatchError
from audits.offline.runner import UnreadableItemsError, run_audit
from audits.reports.markdown import markdown_table
from audits.science.conditions import default_conditions, registered_names
from service.reference.prepare import REFERENCE_KINDS, ensure_reference_model

API_KEY_ENV = "GROUNDING_API_KEY"
OPENAI_KEY_ENV = "OPENAI_API_KEY"
DTYPES = ("auto", "float32", "bfloat16", "float16")
RESUME_HINT = "Results written so far are kept: the same command resumes the run."


def _conditions(value: str) -> list[Condition]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    try:
        conditions = [Condition(name) for name in names]
    except ValueError:
        choices = ", ".join(registered_names())
        raise argparse.ArgumentTypeError(f"conditions are a comma list of {choices}") from None
    if Condition.REAL in conditions:
        raise argparse.ArgumentTypeError("real always runs; list only counterfactuals")
    return conditions


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, type=Path, help="data-set manifest (JSONL)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", help="base URL of a deployed service (POST /audit)")
    target.add_argument(
        "--openai-url",
        help="base URL of any OpenAI-compatible server (vLLM, SGLang, TGI, this service's /v1)",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        help="the model backend (audits.backends.registry); default: openai with --openai-url, "
        "else transformers",
    )
    parser.add_argument(
        "--model",
        help="local Hugging Face checkpoint folder, or a built-in reference model by name ("
        + ", ".join(REFERENCE_KINDS)
        + "); with --openai-url, the served model's name (default: the first one GET /v1/models "
        "lists)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output folder (resumable)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle and bootstrap seed")
    parser.add_argument(
        "--mode",
        choices=("generate", "score", "both"),
        help="default: both; with --openai-url, both where the server returns prompt "
        "log-probabilities, else generate",
    )
    parser.add_argument(
        "--conditions",
        type=_conditions,
        default=list(default_conditions()),
        help=f"comma list of {', '.join(registered_names())} "
        f"(default: {','.join(c.value for c in default_conditions())})",
    )
    parser.add_argument(
        "--limit",
        type=_positive,
        help="audit only the first N items (a quick look at a large manifest)",
    )
    parser.add_argument(
        "--on-error",
        choices=("stop", "skip"),
        default="stop",
        help="an item whose image cannot be read: stop before anything runs (default), or skip "
        "it, audit the rest and list it in the report",
    )
    parser.add_argument("--title", help="report title")
    parser.add_argument("--f1-threshold", type=float, help="open answers also match at this F1")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument(
        "--no-options-in-prompt",
        action="store_true",
        help="send option questions as written (their text already lists the options)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    local = parser.add_argument_group("local model (--model)")
    local.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    local.add_argument("--dtype", default="auto", choices=DTYPES)
    local.add_argument(
        "--max-new-tokens", type=_positive, default=128, help="also with --openai-url"
    )
    local.add_argument(
        "--batch-items",
        type=_positive,
        default=DEFAULT_BATCH_ITEMS,
        help="items per batched generate call (default: %(default)s); with --openai-url, items "
        "whose requests go out together (up to --concurrency in flight)",
    )
    local.add_argument(
        "--stress",
        action="store_true",
        help="text stress tests on option questions (Wrong-Caption, Wrong-Think, P_base)",
    )
    local.add_argument("--pass-k", type=int, default=0, help="Pass@K with K sampled outputs")
    local.add_argument("--temperature", type=float, default=0.7, help="Pass@K temperature")
    remote = parser.add_argument_group("deployed service (--url) or OpenAI server (--openai-url)")
    remote.add_argument(
        "--api-key", help=f"API key (default: ${API_KEY_ENV}; with --openai-url ${OPENAI_KEY_ENV})"
    )
    remote.add_argument("--concurrency", type=_positive, default=8, help="requests in flight")
    remote.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    remote.add_argument("--max-retries", type=int, default=8, help="retries per request")


def _auditor(args: argparse.Namespace) -> VLMBackend | HttpAuditClient:
    if args.url:
        if args.model or args.backend:
            raise ValueError("--model and --backend are for a model backend, not --url")
        if args.stress or args.pass_k:
            raise ValueError("--stress and --pass-k need a local model (--model)")
        return HttpAuditClient(
            args.url,
            api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            max_retries=args.max_retries,
        )
    kind = backend_kind(args.backend or ("openai" if args.openai_url else "transformers"))
    if not kind.local and (args.stress or args.pass_k):
        raise ValueError("--stress and --pass-k need a local model (--model)")
    if kind.local and not args.model:
        raise ValueError("give --model (a checkpoint folder), --url or --openai-url")
    options = BackendOptions(
        model=str(_model_folder(args.model)) if kind.local else args.model,
        url=args.openai_url,
        api_key=args.api_key or os.environ.get(OPENAI_KEY_ENV) or None,
        device=args.device,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        max_retries=args.max_retries,
    )
    return kind.factory(options)


def _model_folder(model: str) -> Path:
    """A checkpoint folder, or the folder of a built-in reference model named ``model``."""
    if model in REFERENCE_KINDS and not Path(model).exists():
        from service.settings import Settings

        return ensure_reference_model(model, Settings().model.cache_dir)  # type: ignore[arg-type]
    folder = Path(model)
    if not folder.is_dir():
        raise ValueError(
            f"--model {model!r} is neither a checkpoint folder nor a built-in reference model "
            f"({', '.join(REFERENCE_KINDS)})"
        )
    return folder


def _mode(args: argparse.Namespace, auditor: VLMBackend | HttpAuditClient) -> str:
    """The audit mode: as asked, else both; on a backend that does not score (an OpenAI server
    that returns no prompt log-probabilities, asked once), generate, and said."""
    if isinstance(auditor, HttpAuditClient):
        return args.mode or "both"
    scoring = auditor.capabilities.score
    print(
        f"model {auditor.model_name}: prompt log-probabilities "
        f"{'returned: score mode available' if scoring else 'not returned: generate mode only'}",
        file=sys.stderr,
    )
    if args.mode in ("score", "both") and not scoring:
        raise ValueError(
            f"--mode {args.mode} needs prompt log-probabilities, which the backend of "
            f"{auditor.model_name} does not return; use --mode generate"
        )
    return args.mode or ("both" if scoring else "generate")


def run(args: argparse.Namespace) -> int:
    try:
        # the manifest is checked before a model loads (which can take minutes)
        read_manifest(args.manifest)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        auditor = _auditor(args)
        mode = _mode(args, auditor)
    except (OSError, ValueError, UpstreamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ran: list[int] = []
    try:
        result = run_audit(
            args.manifest,
            auditor,
            args.out,
            seed=args.seed,
            mode=mode,
            conditions=args.conditions,
            batch_items=args.batch_items,
            stress=args.stress,
            pass_k=args.pass_k,
            temperature=args.temperature,
            limit=args.limit,
            progress=not args.no_progress,
            options_in_prompt=not args.no_options_in_prompt,
            f1_threshold=args.f1_threshold,
            n_boot=args.n_boot,
            title=args.title,
            on_record=lambda _: ran.append(1),
            on_error=args.on_error,
        )
    except UnreadableItemsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RunMismatchError, ValueError, AuditRequestError, UpstreamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if ran:
            print(RESUME_HINT, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted. {RESUME_HINT if ran else 'Nothing was audited yet.'}", file=sys.stderr)
        return 130
    finally:
        auditor.close()
    print(markdown_table(result.metrics))
    print()
    print(f"audited {result.ran} items, {result.resumed} taken from earlier results")
    if result.skipped_items:
        print(
            f"skipped {len(result.skipped_items)} items whose image cannot be read "
            "(listed in the report)"
        )
    for kind, path in result.paths.items():
        print(f"{kind}: {path}")
    return 0
