"""The prompts an audit sends: an option question lists its options and asks for a letter."""

from __future__ import annotations

from collections.abc import Mapping


def letter_keys(options: Mapping[str, str]) -> dict[str, str]:
    if not options:
        raise ValueError("an option question needs a non-empty options mapping")
    return {k.strip().upper(): str(v) for k, v in sorted(options.items())}


def format_options(options: Mapping[str, str]) -> str:
    """One ``"A. text"`` line per option, in letter order."""
    return "\n".join(f"{k}. {v}" for k, v in letter_keys(options).items())


def option_question_prompt(question: str, options: Mapping[str, str]) -> str:
    """The base prompt of an option question (also the stress tests' reference condition)."""
    return (
        f"{question.strip()}\n\nOptions:\n{format_options(options)}\n\n"
        "Answer with the letter of the correct option."
    )
