#!/usr/bin/env bash
# The GPU lane (issue #24): on CUDA in bf16, the family tests (batched generate = one by one,
# score = a plain forward pass, production inside an audit changes no audit output), one
# mirrored audit through `bentoml serve`, and `grounding-audit bench --quick`, into one report
# (default out/gpu-check-cuda.md). Under 8 minutes; each step has its own budget.
#
#   scripts/gpu-check.sh                      # CUDA, bfloat16
#   scripts/gpu-check.sh --device cpu         # dry run on CPU (float32, one family, demo model)
#   scripts/gpu-check.sh --plan               # print the steps and their commands only
#   scripts/gpu-check.sh --model-dir DIR      # serve and bench this checkpoint
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec timeout 470 "$PYTHON" -m loadtests.gpu_check "$@"
