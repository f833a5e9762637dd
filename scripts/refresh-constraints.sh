#!/usr/bin/env bash
# Rewrite constraints.txt from the venv after the suite has passed with it:
#   .venv/bin/pip install -U -e '.[dev]' && ./scripts/test.sh && ./scripts/refresh-constraints.sh
# torch is left out: TORCH_SPEC in setup.sh pins it (a CPU or a CUDA build of the same version).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Versions the whole test suite passed with; setup.sh installs with -c constraints.txt."
  echo "# Refresh: ./scripts/refresh-constraints.sh (see README, \"Reproducible installs\")."
  echo "# torch is pinned by TORCH_SPEC in scripts/setup.sh."
  .venv/bin/pip freeze --exclude-editable --all \
    | grep -v -i -E '^(torch|pip|setuptools|wheel)==|^-e |@ file:' \
    | LC_ALL=C sort -f
} > constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) pins)"
