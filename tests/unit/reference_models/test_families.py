"""The README's compatibility table is the one the family registry generates."""

from __future__ import annotations

from pathlib import Path

from reference_models.families.registry import compatibility_table


def test_the_readme_compatibility_table_is_the_generated_one() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert compatibility_table() in readme, (
        "regenerate the README table: grounding-audit build-family-model --table"
    )
