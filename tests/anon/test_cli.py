"""The plain functions behind `pixl anonymise` and `pixl check-config`."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pydicom
import pytest
from anon_helpers import KEY, SALT, project_yaml, write_yaml

from pixl.anon.cli import anonymise_command, check_config_command
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.errors import ConfigError
from pixl.synthetic import identifying_values, random_specs, write_study

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def test_anonymise_command_writes_each_study_and_summarises(tmp_path: Path) -> None:
    specs = random_specs(2, seed=21, modalities=("CT", "MR"))
    specs = [dataclasses.replace(s, series_count=2, instances_per_series=2) for s in specs]
    write_study(specs[0], tmp_path / "in" / "a")
    single = write_study(specs[1], tmp_path / "in" / "b")
    (tmp_path / "in" / "a" / "README").write_text("not DICOM")
    (tmp_path / "in" / "a" / "cut.dcm").write_bytes(single[0].read_bytes()[:-50])

    text = anonymise_command(
        REPO_PROJECTS, "demo-ct-mr", [tmp_path / "in"], tmp_path / "out", KEY, SALT
    )

    folders = {Pseudonymiser(KEY, SALT).uid(s.study_uid) for s in specs}
    assert {p.name for p in (tmp_path / "out").iterdir()} == folders
    for folder in folders:
        files = list((tmp_path / "out" / folder).glob("*.dcm"))
        assert files and all(pydicom.dcmread(f).PatientName == "ANON" for f in files)
    assert "(0010,0020) PatientID" in text
    assert "dropped 1 unreadable" in text  # the truncated copy, in the second study
    assert "skipped 1 file(s) that are not DICOM" in text
    values = set().union(*(identifying_values(s) for s in specs))
    assert not [v for v in values if v in text]


def test_anonymise_command_names_a_missing_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        anonymise_command(REPO_PROJECTS, "demo-ct-mr", [tmp_path / "nope"], tmp_path, KEY, SALT)


def test_anonymise_command_unknown_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config for project 'nope'"):
        anonymise_command(REPO_PROJECTS, "nope", [tmp_path], tmp_path / "out", KEY, SALT)


def test_check_config_every_repo_project_is_ok() -> None:
    code, text = check_config_command(REPO_PROJECTS, None)
    assert code == 0, text
    assert "OK   demo-ct-mr: CT, MR;" in text
    assert "OK   demo-xray:" in text


@pytest.fixture
def projects(projects_dir: Path) -> Path:
    """test-project (fine), bad-field (unknown field), bad-tags (a broken tag-operation file)."""
    write_yaml(projects_dir / "bad-field.yaml", project_yaml(series_filter=["scout"]))
    write_yaml(projects_dir / "bad-tags.yaml", project_yaml(base=("broken.yaml",)))
    write_yaml(
        projects_dir / "tag-operations" / "broken.yaml",
        [{"name": "PatientID", "group": 0x0010, "element": 0x0020, "op": "scramble"}],
    )
    return projects_dir


def test_check_config_reports_each_config(projects: Path) -> None:
    code, text = check_config_command(projects, None)
    assert code == 1
    lines = text.splitlines()
    assert lines[0].startswith("FAIL bad-field: ")
    assert "bad-field.yaml, field 'series_filter': unknown field" in lines[0]
    assert lines[1].startswith("FAIL bad-tags: ")
    assert "broken.yaml, field '[0].op': unknown operation 'scramble'" in lines[1]
    assert lines[2].startswith("OK   test-project: CT, MR; 1 tag-operation file(s)")
    assert lines[3] == "1 of 3 project config(s) OK"


def test_check_config_one_slug(projects: Path) -> None:
    assert check_config_command(projects, "test-project")[0] == 0
    code, text = check_config_command(projects, "bad-tags")
    assert code == 1 and "scramble" in text and "test-project" not in text


def test_check_config_a_path(projects: Path, tmp_path: Path) -> None:
    code, text = check_config_command(tmp_path / "elsewhere", str(projects / "bad-field.yaml"))
    assert code == 1 and "series_filter" in text
    copy = tmp_path / "copy"
    shutil.copytree(projects, copy)
    assert check_config_command(projects, str(copy / "test-project.yaml"))[0] == 0


def test_check_config_unknown_slug_and_empty_folder(projects: Path, tmp_path: Path) -> None:
    code, text = check_config_command(projects, "nope")
    assert code == 1 and "no config for project 'nope'" in text
    (tmp_path / "empty").mkdir()
    code, text = check_config_command(tmp_path / "empty", None)
    assert code == 1 and "no project configs" in text


def test_check_config_catches_a_malformed_recipe(projects: Path) -> None:
    write_yaml(
        projects / "us.yaml", project_yaml(image_operation_files={"deid_recipes": ["us.recipe"]})
    )
    (projects / "image-operations").mkdir()
    (projects / "image-operations" / "us.recipe").write_text("FORMAT dicom\n%filter g\nLABEL\n+")
    code, text = check_config_command(projects, "us")
    assert code == 1
    assert "us.recipe, field 'line 4'" in text
