.PHONY: setup run test lint bench vllm

setup:
	./scripts/setup.sh

run:
	./scripts/run.sh

test:
	./scripts/test.sh

vllm:
	./scripts/vllm_setup.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

bench:
	.venv/bin/grounding-audit bench
