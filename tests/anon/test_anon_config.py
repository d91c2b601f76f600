"""Project configs in PIXL's format: loading, defaults, helpers, and errors naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from anon_helpers import project_yaml, rule, write_yaml

from pixl.anon.config import (
    DicomDestination,
    ParquetDestination,
    XnatArchive,
    XnatOverwrite,
    list_project_slugs,
    load_project_config,
)
from pixl.anon.tagops import Op
from pixl.errors import ConfigError

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def _write(projects_dir: Path, data: dict[str, Any], slug: str = "p") -> Path:
    return write_yaml(projects_dir / f"{slug}.yaml", data)


def _error(projects_dir: Path, data: dict[str, Any]) -> ConfigError:
    path = _write(projects_dir, data)
    with pytest.raises(ConfigError) as caught:
        load_project_config(projects_dir, "p")
    assert caught.value.source == str(path)
    return caught.value


def test_loads_with_defaults(projects_dir: Path) -> None:
    config = load_project_config(projects_dir, "test-project")
    assert config.slug == "test-project"
    assert config.alias == "test-project"
    assert config.project.modalities == ["CT", "MR"]
    assert config.min_instances_per_series == 2
    assert config.series_filters is None
    assert config.manufacturer_allowed("Anything at all", 7)
    assert config.manufacturer_allowed(None)
    assert config.destination.dicom is DicomDestination.FOLDER
    assert config.destination.parquet is ParquetDestination.NONE
    assert config.tag_operations.for_manufacturer(None).ops[0x00100020] is Op.SECURE_HASH


def test_the_repository_demo_projects_load() -> None:
    assert {"demo-ct-mr", "demo-xray"} <= set(list_project_slugs(REPO_PROJECTS))
    ct_mr = load_project_config(REPO_PROJECTS, "demo-ct-mr")
    assert ct_mr.project.modalities == ["CT", "MR"]
    assert ct_mr.is_series_excluded("Localizer 3-plane")
    assert ct_mr.destination.dicom is DicomDestination.FOLDER
    assert ct_mr.destination.parquet is ParquetDestination.FOLDER
    philips = ct_mr.tag_operations.for_manufacturer("Philips Medical Systems").ops
    assert philips[0x20011023] is Op.KEEP
    xray = load_project_config(REPO_PROJECTS, "demo-xray")
    assert xray.project.modalities == ["DX", "CR"]
    assert xray.tag_operation_files.manufacturer_overrides is None  # `none`, as PIXL writes it
    assert xray.min_instances_per_series == 1


def test_alias_and_optional_sections(projects_dir: Path) -> None:
    data = project_yaml(
        series_filters=["Scout"],
        allowed_manufacturers=[{"regex": "^siemens", "exclude_series_numbers": [99, "100"]}],
        min_instances_per_series=1,
        xnat_destination_options={"overwrite": "append", "destination": "/prearchive"},
    )
    data["project"]["azure_kv_alias"] = "kv-alias"
    data["destination"] = {"dicom": "xnat", "parquet": "sftp"}
    _write(projects_dir, data)
    config = load_project_config(projects_dir, "p")
    assert config.alias == "kv-alias"
    assert config.xnat_destination_options is not None
    assert config.xnat_destination_options.overwrite is XnatOverwrite.APPEND
    assert config.xnat_destination_options.destination is XnatArchive.PREARCHIVE
    assert config.is_series_excluded("AXIAL SCOUT 2")
    assert config.is_series_excluded("scout")
    assert not config.is_series_excluded("AXIAL")
    assert not config.is_series_excluded(None)
    assert config.manufacturer_allowed("SIEMENS Healthineers", 3)
    assert config.manufacturer_allowed("Siemens", None)
    assert not config.manufacturer_allowed("Siemens", 99)
    assert not config.manufacturer_allowed("siemens", "100")
    assert config.manufacturer_allowed("siemens", 1000)  # numbers match exactly
    assert not config.manufacturer_allowed("GE Medical Systems", 3)
    assert not config.manufacturer_allowed(None)


def test_list_project_slugs(projects_dir: Path) -> None:
    _write(projects_dir, project_yaml(), slug="another")
    assert list_project_slugs(projects_dir) == ["another", "test-project"]


def test_missing_project(projects_dir: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_config(projects_dir, "nope")
    assert caught.value.source == str(projects_dir / "nope.yaml")
    assert "test-project" in caught.value.problem


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["destination"].update(dicom="s3"), "destination.dicom", "'folder'"),
        (lambda d: d["destination"].update(parquet="xnat"), "destination.parquet", "'ftps'"),
        (lambda d: d["destination"].update(parquet="dicomweb"), "destination.parquet", "'tre'"),
        (lambda d: d.pop("destination"), "destination", "required"),
        (lambda d: d["project"].update(modalities=[]), "project.modalities", "at least 1"),
        (lambda d: d["tag_operation_files"].update(base=[]), "tag_operation_files.base", "1"),
        (lambda d: d.update(min_instances_per_series=0), "min_instances_per_series", "1"),
        (lambda d: d.update(series_filter=["x"]), "series_filter", "series_filters"),
        (
            lambda d: d.update(allowed_manufacturers=[{"regex": "("}]),
            "allowed_manufacturers[0].regex",
            "regular expression",
        ),
        (
            lambda d: d.update(xnat_destination_options={"overwrite": "always"}),
            "xnat_destination_options.overwrite",
            "'append'",
        ),
        (
            lambda d: d.update(xnat_destination_options={"destination": "/tmp"}),
            "xnat_destination_options.destination",
            "'/prearchive'",
        ),
    ],
)
def test_invalid_fields_are_named(projects_dir: Path, change: Any, field: str, words: str) -> None:
    data = project_yaml()
    change(data)
    error = _error(projects_dir, data)
    assert error.field == field
    assert words in error.problem


def test_missing_tag_operation_file_names_the_field(projects_dir: Path) -> None:
    error = _error(projects_dir, project_yaml(base=("base.yaml", "absent.yaml")))
    assert error.field == "tag_operation_files.base[1]"
    assert "absent.yaml" in error.problem


def test_missing_override_file_names_the_field(projects_dir: Path) -> None:
    error = _error(projects_dir, project_yaml(overrides=("absent.yaml",)))
    assert error.field == "tag_operation_files.manufacturer_overrides[0]"
    assert str(projects_dir / "tag-operations" / "manufacturer-overrides") in error.problem


def test_missing_deid_recipe_names_the_field(projects_dir: Path) -> None:
    error = _error(
        projects_dir, project_yaml(image_operation_files={"deid_recipes": ["us.recipe"]})
    )
    assert error.field == "image_operation_files.deid_recipes[0]"


def test_errors_inside_tag_operation_files_name_that_file(projects_dir: Path) -> None:
    bad = write_yaml(
        projects_dir / "tag-operations" / "bad.yaml", [rule("Rows", "keep"), rule("Columns", "zap")]
    )
    _write(projects_dir, project_yaml(base=("base.yaml", "bad.yaml")))
    with pytest.raises(ConfigError) as caught:
        load_project_config(projects_dir, "p")
    assert caught.value.source == str(bad)
    assert caught.value.field == "[1].op"


def test_malformed_project_yaml(projects_dir: Path) -> None:
    path = projects_dir / "p.yaml"
    path.write_text("project: {name: x\ndestination: [\n")
    with pytest.raises(ConfigError) as caught:
        load_project_config(projects_dir, "p")
    assert caught.value.source == str(path)
    assert "malformed YAML" in caught.value.problem


def test_project_yaml_must_be_a_mapping(projects_dir: Path) -> None:
    (projects_dir / "p.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_project_config(projects_dir, "p")


def test_tag_operation_files_are_read_once_at_load(projects_dir: Path) -> None:
    config = load_project_config(projects_dir, "test-project")
    (projects_dir / "tag-operations" / "base.yaml").unlink()
    assert config.tag_operations.for_manufacturer("ACME").ops[0x00100010] is Op.REPLACE


def test_series_numbers_compare_as_numbers(projects_dir: Path) -> None:
    data = project_yaml(allowed_manufacturers=[{"regex": ".*", "exclude_series_numbers": ["007"]}])
    _write(projects_dir, data)
    config = load_project_config(projects_dir, "p")
    assert not config.manufacturer_allowed("GE", 7)
    assert not config.manufacturer_allowed("GE", " 7 ")
    assert config.manufacturer_allowed("GE", 70)


@pytest.mark.parametrize("slug", ["", "../p", "tag-operations/base", ".hidden"])
def test_slugs_are_file_names(projects_dir: Path, slug: str) -> None:
    with pytest.raises(ConfigError, match="not a project slug"):
        load_project_config(projects_dir, slug)
