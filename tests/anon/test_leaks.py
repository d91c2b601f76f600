"""The leak check: what originals reveal, where it is found, and that reports never echo it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from pixl.anon.leaks import LeakCheck, StudyValues, find_leaks, identifying_values_of
from pixl.synthetic import identifying_values, make_study, random_specs, write_study

(SPEC,) = random_specs(1, seed=11, modalities=("MR",))
SPEC = dataclasses.replace(SPEC, series_count=1, instances_per_series=2)


def _write(ds: Dataset, path: Path) -> Path:
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def test_identifying_values_of_finds_every_planted_value() -> None:
    found = identifying_values_of(make_study(SPEC)[0])
    planted = identifying_values(SPEC)
    missing = {v for v in planted if v not in found}
    # other instances' SOP UIDs are not in this instance
    assert all(v.startswith("2.25.") for v in missing)
    surname, given = SPEC.patient_name.split("^")
    assert {surname, given, SPEC.mrn, SPEC.study_date} <= found
    assert "F" not in found  # too short to search for
    assert not {v for v in found if v.startswith("1.2.840.10008.")}  # standard UIDs


def test_identifying_values_of_leaves_out_kept_elements() -> None:
    ds = make_study(SPEC)[0]
    found = identifying_values_of(ds, kept_tags={0x00080080})  # InstitutionName
    assert ds.InstitutionName not in found


def test_the_original_study_leaks_everywhere(tmp_path: Path) -> None:
    files = write_study(SPEC, tmp_path)
    leaks = find_leaks(files, identifying_values(SPEC))
    paths = {leak.tag_path for leak in leaks}
    assert {"PatientName", "PatientID", "OtherPatientIDsSequence[0].PatientID"} <= paths
    assert "RequestAttributesSequence[0].AccessionNumber" in paths
    assert "(0019,1001)" in paths  # the private block
    assert "file_meta.MediaStorageSOPInstanceUID" in paths
    for leak in leaks:
        # the file is named by its original UID here; pixl's outputs are named by pseudonyms
        report = str(leak).replace(str(leak.file), "")
        for value in identifying_values(SPEC):
            assert value not in report
            assert value not in leak.tag_path + leak.value_kind


def test_search_is_case_insensitive(tmp_path: Path) -> None:
    ds = make_study(SPEC)[0]
    path = _write(
        _minimal(ds, StudyDescription=f"review of {SPEC.patient_name.lower()}"), tmp_path / "a.dcm"
    )
    (leak,) = find_leaks([path], {SPEC.patient_name})
    assert leak.tag_path == "StudyDescription"
    assert leak.value_kind == "text"


def _minimal(original: Dataset, **values: str) -> Dataset:
    ds = Dataset()
    ds.file_meta = original.file_meta
    ds.SOPClassUID = original.SOPClassUID
    ds.SOPInstanceUID = "2.25.1"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_digits_must_stand_alone_and_short_values_are_ignored(tmp_path: Path) -> None:
    ds = _minimal(make_study(SPEC)[0], StudyDescription="run 9912345678 F 1234")
    path = _write(ds, tmp_path / "a.dcm")
    assert find_leaks([path], {"12345678", "F", "1234"}) == []
    ds.StudyDescription = "MRN:12345678"
    _write(ds, path)
    (leak,) = find_leaks([path], {"12345678"})
    assert leak.value_kind == "number or date"


def test_raw_bytes_are_a_second_net(tmp_path: Path) -> None:
    ds = _minimal(make_study(SPEC)[0])
    ds.preamble = SPEC.mrn.encode().ljust(128, b"\x00")  # invisible to an element walk
    path = _write(ds, tmp_path / "a.dcm")
    (leak,) = find_leaks([path], {SPEC.mrn})
    assert leak.tag_path == "raw bytes at offset 0"
    assert SPEC.mrn not in str(leak)


def test_nested_sequences_are_searched(tmp_path: Path) -> None:
    ds = _minimal(make_study(SPEC)[0])
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = SPEC.study_uid
    outer = Dataset()
    outer.ReferencedImageSequence = Sequence([inner])
    ds.ReferencedStudySequence = Sequence([outer])
    (leak,) = find_leaks([_write(ds, tmp_path / "a.dcm")], {SPEC.study_uid})
    assert (
        leak.tag_path
        == "ReferencedStudySequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID"
    )
    assert leak.value_kind == "UID"


def test_no_values_no_leaks(tmp_path: Path) -> None:
    files = write_study(SPEC, tmp_path)
    assert find_leaks(files, {"F", ""}) == []


def test_case_is_ignored_as_re_ignores_it_on_ascii_text(tmp_path: Path) -> None:
    # The long s (U+017F) and the Kelvin sign (U+212A) match "s" and "k" when case is
    # ignored; ASCII text is searched lowered, and must still find them.
    ds = _minimal(make_study(SPEC)[0], StudyDescription="seen by DR SMITHKLINE")
    path = _write(ds, tmp_path / "a.dcm")
    (leak,) = find_leaks([path], {"\u017fmith\u212aline"})
    assert leak.tag_path == "StudyDescription"
    assert find_leaks([path], {"\u017fmith\u00e9"}) == []  # "é" is in no ASCII text


def test_numbers_stand_alone_at_the_edges_of_raw_bytes() -> None:
    check = LeakCheck({"12345678"})
    assert check.search_bytes(b"12345678 rest") == (0, "number or date")
    assert check.search_bytes(b"x912345678") is None
    assert check.search_bytes(b"x\x00123456789") is None
    assert check.search("12345678") == "number or date"
    assert check.search("012345678") is None


def test_values_added_after_a_search_are_searched_for() -> None:
    check = LeakCheck({"TAYLOR"})
    assert check.search("dr jones") is None
    check.add(["JONES", "2.25.123"])
    assert check.search("dr jones") == "text"
    assert check.search("ref 2.25.123") == "UID"
    assert check.search("ref 2.25.1234") is None


def test_study_values_are_those_of_each_instance() -> None:
    spec = dataclasses.replace(SPEC, instances_per_series=3)
    originals = StudyValues()
    for ds in make_study(spec):
        assert originals.of(ds) == identifying_values_of(ds.copy())
    kept = frozenset({0x00100020})  # PatientID, also inside OtherPatientIDsSequence
    for ds in make_study(spec):
        assert originals.of(ds, kept) == identifying_values_of(ds.copy(), kept)


def test_a_public_element_stored_as_un_is_read_by_its_dictionary_vr() -> None:
    ds = Dataset()
    ds.OperatorsName = "PLACEHOLDER"
    raw = RawDataElement(BaseTag(0x00081070), "UN", 16, b"OPERATOR^SECRET ", 0, False, True)
    ds._dict[BaseTag(0x00081070)] = raw  # as read from a file that says UN
    assert {"OPERATOR^SECRET", "OPERATOR", "SECRET"} <= identifying_values_of(ds)
