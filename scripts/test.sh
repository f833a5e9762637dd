#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit and integration, real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export GROUNDING_CACHE_DIR=${GROUNDING_CACHE_DIR:-$PWD/.cache/grounding-audit}
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
