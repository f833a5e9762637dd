"""`grounding-audit`: one console script; each subcommand lives in its own module.

A subcommand module exposes ``register(parser)`` (adds its arguments) and ``run(args) -> int``.
Only the chosen subcommand's module is imported, so `score` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "build-demo-model": ("service.demo_model", "write a tiny random Qwen2-VL checkpoint folder"),
    "make-phantom": ("audits.phantom", "write the synthetic phantom VQA data set"),
    "train": ("service.training", "train a reference model on the phantom data set"),
    "prepare": ("service.prepare", "build the reference models once and cache them"),
    "serve": ("service.serve_cli", "serve the model with bentoml serve"),
    "run": ("audits.runner_cli", "offline counterfactual audit of a manifest"),
    "score": ("audits.score_cli", "every metric from a predictions file, no model needed"),
    "convert": ("audits.converters", "convert a downloaded benchmark into a manifest"),
    "calibrate": ("service.calibrate", "freeze the image-sensitivity baseline for drift detection"),
    "bench": ("loadtests.bench", "measure latency and audit-cost ratios on this machine"),
}


def _usage() -> str:
    lines = ["usage: grounding-audit <command> [options]", "", "commands:"]
    lines += [f"  {name:<18} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"grounding-audit {name}", description=COMMANDS[name][1])
    module.register(parser)
    return int(module.run(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
