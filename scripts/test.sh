#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit and integration, real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/vllm_setup.sh  # a real vLLM in .venv-vllm for the tests marked vllm
export GROUNDING_CACHE_DIR=${GROUNDING_CACHE_DIR:-$PWD/.cache/grounding-audit}
# the known answers are asserted on the shipped reference weights (models/reference/); set
# GROUNDING_TRAIN_STEPS to train other budgets here instead
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
