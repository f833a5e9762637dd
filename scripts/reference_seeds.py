"""Known answers of the reference reasoners under several training seeds.

Trains each reasoner with each seed (the test budget by default) and runs the same offline audit
as tests/integration/test_reasoning_models.py on the held-out phantom, so the margins the tests
assert can be checked against the spread that a seed (which changes a tiny model more than a
CPU does) produces. Usage:

    .venv/bin/python scripts/reference_seeds.py --seeds 0,1,2 --steps 500 --out seeds.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

KINDS = ("grounded_reasoner", "shortcut_reasoner", "blind_reasoner")
HELDOUT_ITEMS, SKEPTIC_ITEMS, REASONING_TOKENS = 120, 40, 80


def _value(rate) -> float | None:
    return None if rate is None else round(rate.value, 3)


def _audit(model_dir: Path, manifest: Path, limit: int):
    from audits.backends.transformers_runtime import TransformersRuntime
    from audits.offline.runner import run_audit

    runtime = TransformersRuntime(
        model_dir, device="cpu", dtype="float32", max_new_tokens=REASONING_TOKENS
    )
    with tempfile.TemporaryDirectory() as out:
        result = run_audit(
            manifest, runtime, Path(out), limit=limit, batch_items=24, progress=False, n_boot=200
        )
    return result.metrics.overall


def measure(kind: str, seed: int, steps: int, cache_dir: Path) -> dict[str, object]:
    import torch

    from audits.contracts.types import Condition
    from audits.data.phantom_reasoning import write_skeptic_manifest
    from reference_models.phantom_data import ensure_phantom_data
    from service.reference.prepare import ensure_reference_model

    torch.set_num_threads(1)
    data = ensure_phantom_data(cache_dir)
    model = ensure_reference_model(kind, cache_dir, steps=steps, seed=seed, progress=False)  # type: ignore[arg-type]
    held = _audit(model, data.heldout, HELDOUT_ITEMS)
    with tempfile.TemporaryDirectory() as tmp:
        skeptic = _audit(
            model, write_skeptic_manifest(data.heldout, Path(tmp) / "m.jsonl"), SKEPTIC_ITEMS
        )
    return {
        "kind": kind,
        "seed": seed,
        "steps": steps,
        "accuracy": _value(held.accuracy[Condition.REAL]),
        "image_sensitivity": _value(held.image_sensitivity),
        "oracle_is": _value(held.oracle_is),
        "is_blank": _value(held.is_blank),
        "visual_claim_rate": _value(held.visual_claim_rate),
        "hvrr": _value(held.hvrr),
        "hvrr_interval": None if held.hvrr is None else [held.hvrr.lo, held.hvrr.hi],
        "hvrr_should_change": _value(held.hvrr_should_change),
        "flip_no_image": _value(held.flip_rate.get(Condition.NO_IMAGE)),
        "unparsed_no_image": held.conditions[Condition.NO_IMAGE].model_dump()
        if Condition.NO_IMAGE in held.conditions
        else None,
        "modality_skeptic_rate": _value(skeptic.modality_skeptic_rate),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/grounding-audit"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(kind, seed) for seed in seeds for kind in args.kinds.split(",")]
    context = multiprocessing.get_context("spawn")
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        futures = [
            pool.submit(measure, kind, seed, args.steps, args.cache_dir) for kind, seed in jobs
        ]
        for future in futures:
            row = future.result()
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
