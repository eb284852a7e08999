"""Reproducible installs (issue 10, item 5): one constraints file pins what the tests run with,
and both the CI environment and the Docker image install through it.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from tests.services import in_ci

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = PIN.match(line.strip())
            assert match, f"not an exact pin: {line!r}"
            found[normalized(match.group(1))] = match.group(2)
    return found


def test_every_declared_dependency_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {normalized(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]) for requirement in declared}
    assert names - set(pins()) == set()


def test_the_image_and_the_ci_environment_install_through_the_constraints():
    assert "pip install -c constraints.txt ." in (ROOT / "Dockerfile").read_text()
    assert "COPY pyproject.toml README.md constraints.txt" in (ROOT / "Dockerfile").read_text()
    assert "pip install --quiet -c constraints.txt -e '.[test]'" in (ROOT / ".ci" / "run").read_text()


def test_under_ci_the_installed_versions_are_the_pinned_ones():
    if not in_ci():
        pytest.skip("a developer's environment may have moved on; .ci/run installs with -c")
    installed = {normalized(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    assert {name: installed.get(name) for name in pins()} == pins()
