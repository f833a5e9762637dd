#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit and integration, real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export GROUNDING_CACHE_DIR=${GROUNDING_CACHE_DIR:-$PWD/.cache/grounding-audit}
# a reduced training budget that still clears the reference-model thresholds (see README)
export GROUNDING_TRAIN_STEPS=${GROUNDING_TRAIN_STEPS:-500}
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
