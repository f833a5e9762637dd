#!/usr/bin/env bash
# Idempotent set-up: system packages (redis-server, prometheus/promtool, chromium, Node.js), the
# venv with torch installed first, the project with its dev extras, and the npm packages of
# tests/grafana_schema (Grafana's dashboard schema, for the dashboard's schema test).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ "${WITH_CHROMIUM:-1}" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${need_apt[*]}"
  running_before=" $(pgrep -x -d ' ' prometheus || true) $(pgrep -x -d ' ' redis-server || true) "
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
  # the Debian packages start their own daemons; the project starts its own instances, so
  # stop only the daemons this install started, never a user's own
  $SUDO systemctl disable --now redis-server prometheus >/dev/null 2>&1 || true
  for pid in $(pgrep -x prometheus || true) $(pgrep -x redis-server || true); do
    case "$running_before" in *" $pid "*) ;; *) $SUDO kill "$pid" >/dev/null 2>&1 || true ;; esac
  done
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# constraints.txt pins every package to the versions the suite passed with (README: "Reproducible
# installs"); a change to it or to pyproject.toml reinstalls
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # torch first: an unpinned torch would pull a multi-GB CUDA build (see README for GPUs)
  .venv/bin/pip install -q -c constraints.txt "$TORCH_SPEC"
  .venv/bin/pip install -q -c constraints.txt -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
# @grafana/schema pinned to the Grafana that deploy/docker-compose.yml runs; a change to the
# lock file reinstalls (npm ci empties node_modules, the stamp with it)
npm_stamp=tests/grafana_schema/node_modules/.installed-$(sha256sum <tests/grafana_schema/package-lock.json | cut -c1-16)
if [ ! -f "$npm_stamp" ]; then
  npm ci --prefix tests/grafana_schema --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  touch "$npm_stamp"
fi
echo "environment ready: $(.venv/bin/python -c 'import torch, transformers, bentoml; print("torch", torch.__version__, "transformers", transformers.__version__, "bentoml", bentoml.__version__)')"
