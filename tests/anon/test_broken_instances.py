"""Broken instances are dropped one by one, with a reason; the rest of the study goes on."""

from __future__ import annotations

import dataclasses
import struct
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from anon_helpers import KEY, SALT, project_yaml, rule, write_yaml
from pydicom.dataset import Dataset

from pixl.anon.config import load_project_config
from pixl.anon.engine import Anonymiser, Dropped, DropReason
from pixl.anon.leaks import find_leaks
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.errors import AnonymisationError
from pixl.synthetic import StudySpec, identifying_values, make_study, random_specs

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"
UNREADABLE = DropReason.UNREADABLE.value


@pytest.fixture
def spec() -> StudySpec:
    (spec,) = random_specs(1, seed=11, modalities=("CT",))
    return dataclasses.replace(spec, series_count=2, instances_per_series=3)


def _demo() -> Anonymiser:
    return Anonymiser(load_project_config(REPO_PROJECTS, "demo-ct-mr"), Pseudonymiser(KEY, SALT))


def _bytes(ds: Dataset) -> bytes:
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def test_garbage_and_truncated_files_are_dropped_the_rest_delivered(
    tmp_path: Path, spec: StudySpec
) -> None:
    good = [_bytes(ds) for ds in make_study(spec)]
    truncated_pixels = good[0][:-100]
    truncated_header = good[1][:700]
    sources = [
        b"\x00garbage",
        b"",
        truncated_pixels,
        *good[2:],
        truncated_header,
        b"DICM" * 300,
    ]
    result = _demo().anonymise_study(sources, tmp_path / "out")
    # Series 0 keeps instance 2 only (0 and 1 are broken): too few; series 1 is complete.
    assert result.kept == 3
    assert result.dropped == {UNREADABLE: 5, DropReason.TOO_FEW_INSTANCES.value: 1}
    assert result.pseudo_study_uid is not None
    assert not find_leaks(result.files, identifying_values(spec))
    for path in result.files:
        assert pydicom.dcmread(path).PatientName == "ANON"


def test_truncated_file_on_disk(tmp_path: Path, spec: StudySpec) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(_bytes(make_study(spec)[0])[:-1])
    result = _demo().anonymise_instance(path)
    assert result == Dropped(UNREADABLE)
    assert isinstance(result, Dropped) and result.detail == "truncated"


def test_missing_file_is_dropped(tmp_path: Path) -> None:
    result = _demo().anonymise_instance(tmp_path / "gone.dcm")
    assert result == Dropped(UNREADABLE)


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"])
def test_missing_instance_uid(tmp_path: Path, spec: StudySpec, keyword: str) -> None:
    broken, *others = make_study(spec)
    delattr(broken, keyword)
    result = _demo().anonymise_study([_bytes(broken)] + [_bytes(ds) for ds in others], tmp_path)
    assert result.dropped[UNREADABLE] == 1
    assert result.kept == 5  # the other two of series 0 and the three of series 1


def _with_raw_element(data: bytes, tag: int, vr: str, value: bytes) -> bytes:
    """`data` with an explicit VR element appended, however broken its value."""
    group, element = tag >> 16, tag & 0xFFFF
    return data + struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value


def test_undecodable_element_drops_only_that_instance(tmp_path: Path, spec: StudySpec) -> None:
    root = tmp_path / "projects"
    rules = [
        rule(k, op)
        for k, op in [
            ("SOPClassUID", "keep"),
            ("SOPInstanceUID", "replace_UID"),
            ("SeriesInstanceUID", "replace_UID"),
            ("StudyInstanceUID", "replace_UID"),
            ("Modality", "keep"),
            ("PatientName", "replace"),
            ("PixelData", "keep"),
        ]
    ]
    # A US element the rules replace, so its value must be decoded.
    rules.append({"name": "Rows", "group": 0x0028, "element": 0x0010, "op": "replace"})
    write_yaml(root / "tag-operations" / "rules.yaml", rules)
    write_yaml(root / "p.yaml", project_yaml(base=("rules.yaml",), min_instances_per_series=1))
    anonymiser = Anonymiser(load_project_config(root, "p"), Pseudonymiser(KEY, SALT))

    broken, good = make_study(dataclasses.replace(spec, series_count=1, instances_per_series=2))
    del broken.Rows
    data = _bytes(broken)
    # Rows with three bytes: pydicom cannot decode a US value of odd length. It must sort
    # before the pixel data, so rebuild the dataset with it in place.
    ds = pydicom.dcmread(BytesIO(_with_raw_element(data, 0x00280010, "US", b"\x01\x02\x03")))
    raw = BytesIO()
    pydicom.dcmwrite(raw, ds, enforce_file_format=True)
    dropped = anonymiser.anonymise_instance(raw.getvalue())
    assert dropped == Dropped(UNREADABLE)
    assert isinstance(dropped, Dropped) and "(0028,0010)" in dropped.detail
    result = anonymiser.anonymise_study([raw.getvalue(), _bytes(good)], tmp_path / "out")
    assert result.kept == 1 and result.dropped == {UNREADABLE: 1}


def test_leaks_still_refuse_the_study(tmp_path: Path, spec: StudySpec) -> None:
    root = tmp_path / "projects"
    keep_all = [
        ("SOPClassUID", "keep"),
        ("SOPInstanceUID", "replace_UID"),
        ("SeriesInstanceUID", "replace_UID"),
        ("StudyInstanceUID", "replace_UID"),
        ("Modality", "keep"),
        ("ImageComments", "keep"),  # holds the patient's name and MRN
    ]
    write_yaml(root / "tag-operations" / "rules.yaml", [rule(k, op) for k, op in keep_all])
    write_yaml(root / "p.yaml", project_yaml(base=("rules.yaml",)))
    anonymiser = Anonymiser(load_project_config(root, "p"), Pseudonymiser(KEY, SALT))
    sources = [b"garbage", *(_bytes(ds) for ds in make_study(spec))]
    with pytest.raises(AnonymisationError):
        anonymiser.anonymise_study(sources, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.dcm"))
