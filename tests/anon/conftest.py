"""Fixtures for the anon tests: a small projects folder in PIXL's layout, built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from anon_helpers import BASE_RULES, KEY, SALT, project_yaml, rule, write_yaml

from pixl.anon.pseudonyms import Pseudonymiser


@pytest.fixture
def projects_dir(tmp_path: Path) -> Path:
    """`test-project.yaml` (CT, MR; base.yaml) with its tag-operation file."""
    root = tmp_path / "projects"
    write_yaml(root / "tag-operations" / "base.yaml", [rule(k, op) for k, op in BASE_RULES])
    write_yaml(root / "test-project.yaml", project_yaml())
    return root


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(KEY, SALT)
