"""`grounding-audit`: one console script at the top of the import graph.

Each subcommand module exposes ``register(parser)`` (adds its arguments) and ``run(args) -> int``.
Only the chosen subcommand's module is imported (so `score` never loads torch), but every import
is a plain import statement, so the layering contracts see what the CLI depends on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import ModuleType


def _build_demo_model() -> ModuleType:
    from reference_models import demo_model

    return demo_model


def _build_family_model() -> ModuleType:
    from reference_models.families import registry

    return registry


def _check_model() -> ModuleType:
    from cli import check_model_command

    return check_model_command


def _make_phantom() -> ModuleType:
    from audits.data import phantom

    return phantom


def _train() -> ModuleType:
    from reference_models import training

    return training


def _prepare() -> ModuleType:
    from service.reference import prepare

    return prepare


def _serve() -> ModuleType:
    from cli import serve_command

    return serve_command


def _run() -> ModuleType:
    from cli import run_command

    return run_command


def _score() -> ModuleType:
    from cli import score_command

    return score_command


def _convert() -> ModuleType:
    from cli import convert_command

    return convert_command


def _calibrate() -> ModuleType:
    from service.telemetry.drift import calibrate

    return calibrate


def _demo_update() -> ModuleType:
    from loadtests import rolling_update

    return rolling_update


def _bench() -> ModuleType:
    from loadtests import bench

    return bench


COMMANDS: dict[str, tuple[Callable[[], ModuleType], str]] = {
    "build-demo-model": (_build_demo_model, "write a tiny random Qwen2-VL checkpoint folder"),
    "build-family-model": (
        _build_family_model,
        "write a tiny random checkpoint of a VLM family (Gemma 3, LLaVA, ...)",
    ),
    "check-model": (_check_model, "load a checkpoint folder and probe it as the service would"),
    "make-phantom": (_make_phantom, "write the synthetic phantom VQA data set"),
    "train": (_train, "train a reference model on the phantom data set"),
    "prepare": (_prepare, "build the reference models once and cache them"),
    "serve": (_serve, "serve the model with bentoml serve"),
    "run": (_run, "offline counterfactual audit of a manifest"),
    "score": (_score, "every metric from a predictions file, no model needed"),
    "convert": (_convert, "convert a downloaded benchmark into a manifest"),
    "calibrate": (_calibrate, "freeze the image-sensitivity baseline for drift detection"),
    "bench": (_bench, "measure latency and audit-cost ratios on this machine"),
    "demo-update": (_demo_update, "a bad model update caught by the IS drift alert, live"),
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
    load, description = COMMANDS[name]
    module = load()
    parser = argparse.ArgumentParser(prog=f"grounding-audit {name}", description=description)
    module.register(parser)
    return int(module.run(parser.parse_args(rest)) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
