#!/usr/bin/env bash
# Retrain the shipped reference models (full budget, seed 0) on this machine and write them to
# models/reference/ with their SHA256SUMS. Run it when a recipe, the phantom or the tokenizer
# changes (and bump MODELS_VERSION in service/reference/shipped.py); then check the known
# answers with `make test` and the seed spread with scripts/reference_seeds.py.
#   scripts/ship_reference_models.sh                      # every trained kind
#   scripts/ship_reference_models.sh grounded text_only   # only these
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python - "$work" "$@" <<'PY'
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from reference_models.phantom_data import ensure_phantom_data
from reference_models.training import DEFAULT_STEPS, TRAINED_KINDS, train_reference_model
from service.reference.shipped import MODEL_SEED, SHIPPED_DIR, model_folder_name

work = Path(sys.argv[1])
kinds = sys.argv[2:] or list(TRAINED_KINDS)
unknown = sorted(set(kinds) - set(TRAINED_KINDS))
if unknown:
    sys.exit(f"unknown kinds {unknown}; choose from {', '.join(TRAINED_KINDS)}")
data = ensure_phantom_data(work / "cache")


def train(kind: str) -> str:
    out = work / "models" / model_folder_name(kind, DEFAULT_STEPS, MODEL_SEED)
    train_reference_model(
        data.train, out, kind=kind, steps=DEFAULT_STEPS, seed=MODEL_SEED,
        heldout_manifest=data.heldout, progress=False,
    )
    return out.name


with ProcessPoolExecutor(max_workers=2) as pool:
    names = list(pool.map(train, kinds))
SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
for name in names:
    target = SHIPPED_DIR / name
    if target.exists():
        shutil.rmtree(target)
    (work / "models" / name).rename(target)
print("\n".join(names))
PY
cd models/reference
find . -mindepth 2 -type f | sed 's|^\./||' | sort | xargs sha256sum > SHA256SUMS
echo "wrote models/reference and its SHA256SUMS"
