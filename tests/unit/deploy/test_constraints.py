"""constraints.txt pins every dependency to a version pyproject.toml allows; setup.sh uses it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"constraints.txt line {line!r} is not an exact pin"
        found[canonicalize_name(name)] = Version(version)
    return found


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed.extend(extra)
    return [Requirement(text) for text in listed]


def test_every_dependency_is_pinned_within_its_declared_range() -> None:
    pinned = pins()
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue  # TORCH_SPEC in setup.sh pins the CPU or CUDA build
        assert name in pinned, f"{requirement.name} has no pin in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside {requirement}"
        )


def test_setup_script_installs_with_the_constraints() -> None:
    setup = (REPO / "scripts" / "setup.sh").read_text()
    installs = [
        line
        for line in setup.splitlines()
        if ".venv/bin/pip install" in line and "--upgrade pip" not in line
    ]
    assert len(installs) == 2  # torch first, then the project
    for line in installs:
        assert "-c constraints.txt" in line, line
