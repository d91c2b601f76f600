"""Tag-operation files: parsing, errors that name file and field, merging, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from anon_helpers import rule, write_yaml

from pixl.anon.tagops import ACCEPTED_OPS, Op, TagOperations, load_override_file, load_tag_file
from pixl.errors import ConfigError

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
STUDY_DATE = 0x00080020


@pytest.mark.parametrize("op", list(Op))
def test_every_pixl_operation_is_accepted(tmp_path: Path, op: Op) -> None:
    path = write_yaml(tmp_path / "ops.yaml", [rule("PatientName", op.value)])
    (parsed,) = load_tag_file(path)
    assert parsed.tag == PATIENT_NAME
    assert parsed.op is op
    assert parsed.name == "PatientName"


def test_the_accepted_operations_are_pixls() -> None:
    assert {op.value for op in Op} == {
        "keep",
        "delete",
        "replace",
        "empty",
        "replace_UID",
        "secure-hash",
        "empty_or_replace",
        "delete_or_empty",
        "delete_or_replace",
        "delete_or_empty_or_replace",
        "delete_or_empty_or_replace_UID",
    }


def test_unknown_operation_names_file_field_and_accepted_ops(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "ops.yaml", [rule("PatientName", "keep"), rule("Rows", "blur")])
    with pytest.raises(ConfigError) as caught:
        load_tag_file(path)
    assert caught.value.source == str(path)
    assert caught.value.field == "[1].op"
    assert "'blur'" in caught.value.problem
    assert ACCEPTED_OPS in caught.value.problem
    assert "replace_UID" in str(caught.value)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text("- group: 0x0010\n  element: 0x0010\n  op: [keep\n")
    with pytest.raises(ConfigError) as caught:
        load_tag_file(path)
    assert caught.value.source == str(path)
    assert caught.value.field is not None and caught.value.field.startswith("line ")
    assert "malformed YAML" in caught.value.problem


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_tag_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"element": 0x10, "op": "keep"}, "[0].group"),
        ({"group": 0x10, "op": "keep"}, "[0].element"),
        ({"group": 0x10, "element": 0x10}, "[0].op"),
        ({"group": "zz", "element": 0x10, "op": "keep"}, "[0].group"),
        ({"group": 0x10, "element": 0x10000, "op": "keep"}, "[0].element"),
        ({"group": True, "element": 0x10, "op": "keep"}, "[0].group"),
    ],
)
def test_malformed_entries(tmp_path: Path, entry: dict[str, object], field: str) -> None:
    path = write_yaml(tmp_path / "ops.yaml", [entry])
    with pytest.raises(ConfigError) as caught:
        load_tag_file(path)
    assert caught.value.field == field


def test_not_a_list(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "ops.yaml", {"group": 0x10})
    with pytest.raises(ConfigError, match="must be a list"):
        load_tag_file(path)


def test_hex_strings_are_accepted(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "ops.yaml", [{"group": "0x0010", "element": "0020", "op": "keep"}])
    assert load_tag_file(path)[0].tag == PATIENT_ID


def test_later_base_file_wins(tmp_path: Path) -> None:
    first = write_yaml(
        tmp_path / "a.yaml", [rule("PatientName", "keep"), rule("StudyDate", "replace")]
    )
    second = write_yaml(tmp_path / "b.yaml", [rule("PatientName", "replace")])
    ops = TagOperations.from_files([first, second], []).for_manufacturer(None).ops
    assert ops[PATIENT_NAME] is Op.REPLACE
    assert ops[STUDY_DATE] is Op.REPLACE
    reverse = TagOperations.from_files([second, first], []).for_manufacturer(None).ops
    assert reverse[PATIENT_NAME] is Op.KEEP


def test_delete_rules_are_not_in_the_table(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "a.yaml", [rule("PatientName", "delete"), rule("Rows", "keep")])
    table = TagOperations.from_files([path], []).for_manufacturer(None)
    assert PATIENT_NAME not in table.ops
    assert table.kept == frozenset({0x00280010})


def _overrides(tmp_path: Path) -> TagOperations:
    base = write_yaml(tmp_path / "base.yaml", [rule("PatientName", "replace")])
    first = write_yaml(
        tmp_path / "o1.yaml",
        [
            {
                "manufacturer": "^philips",
                "tags": [{"group": 0x2001, "element": 0x1003, "op": "keep"}],
            },
            {"manufacturer": "siemens", "tags": [rule("StudyDate", "keep")]},
        ],
    )
    second = write_yaml(
        tmp_path / "o2.yaml",
        [{"manufacturer": "SIEMENS", "tags": [rule("StudyDate", "replace")]}],
    )
    return TagOperations.from_files([base], [first, second])


def test_override_by_case_insensitive_regex(tmp_path: Path) -> None:
    operations = _overrides(tmp_path)
    philips = operations.for_manufacturer("Philips Medical Systems").ops
    assert philips[0x20011003] is Op.KEEP
    assert philips[0x20010010] is Op.KEEP  # the private creator of the kept block
    assert operations.for_manufacturer("Not Philips").ops.get(0x20011003) is None  # ^ anchors
    assert 0x20011003 not in operations.for_manufacturer(None).ops
    assert operations.for_manufacturer("GE").ops == operations.for_manufacturer(None).ops


def test_later_override_wins(tmp_path: Path) -> None:
    siemens = _overrides(tmp_path).for_manufacturer("Siemens Healthineers").ops
    assert siemens[STUDY_DATE] is Op.REPLACE
    assert siemens[PATIENT_NAME] is Op.REPLACE


def test_tables_are_compiled_once_per_manufacturer(tmp_path: Path) -> None:
    operations = _overrides(tmp_path)
    assert operations.for_manufacturer("Philips") is operations.for_manufacturer("Philips")


def test_kept_sequences_are_known(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "a.yaml", [rule("ReferencedStudySequence", "keep")])
    table = TagOperations.from_files([path], []).for_manufacturer(None)
    assert 0x00081110 in table.sequences


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ([{"manufacturer": "(", "tags": []}], "[0].manufacturer"),
        ([{"tags": []}], "[0]"),
        (
            [{"manufacturer": "x", "tags": [{"group": 1, "element": 2, "op": "nope"}]}],
            "[0].tags[0].op",
        ),
    ],
)
def test_override_file_errors(tmp_path: Path, content: object, field: str) -> None:
    path = write_yaml(tmp_path / "o.yaml", content)
    with pytest.raises(ConfigError) as caught:
        load_override_file(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
