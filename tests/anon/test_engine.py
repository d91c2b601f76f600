"""The anonymiser: every operation, the allow-list at every depth, filters, determinism."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from anon_helpers import BASE_RULES, KEY, SALT, project_yaml, rule, write_yaml
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pixl.anon.config import load_project_config
from pixl.anon.engine import (
    PIXL_IMPLEMENTATION_CLASS_UID,
    AnonymisedInstance,
    Anonymiser,
    Dropped,
    DropReason,
)
from pixl.anon.leaks import find_leaks
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.errors import AnonymisationError
from pixl.synthetic import StudySpec, identifying_values, random_specs, write_study

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"
SOP_UID = "1.2.826.0.1.3680043.8.498.3"
IDENTITY = [
    ("SOPClassUID", "keep"),
    ("SOPInstanceUID", "replace_UID"),
    ("SeriesInstanceUID", "replace_UID"),
    ("StudyInstanceUID", "replace_UID"),
    ("Modality", "keep"),
]


def _anonymiser(
    tmp_path: Path,
    rules: list[tuple[str, str]] | list[dict[str, Any]],
    salt: bytes = SALT,
    **extra: Any,
) -> Anonymiser:
    root = tmp_path / "projects"
    entries = [rule(*r) if isinstance(r, tuple) else r for r in rules]
    write_yaml(root / "tag-operations" / "rules.yaml", entries)
    write_yaml(root / "p.yaml", project_yaml(base=("rules.yaml",), **extra))
    return Anonymiser(load_project_config(root, "p"), Pseudonymiser(KEY, salt))


def _dataset(**values: Any) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(SOP_UID)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.Modality = "CT"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _encode(ds: Dataset) -> bytes:
    buffer = BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _run(anonymiser: Anonymiser, ds: Dataset, participant_id: str | None = None) -> Dataset:
    result = anonymiser.anonymise_instance(_encode(ds), participant_id)
    assert isinstance(result, AnonymisedInstance), result
    return pydicom.dcmread(BytesIO(result.data))


P = Pseudonymiser(KEY, SALT)
OP_CASES = [
    ("keep", "InstitutionName", "ST ELSEWHERE", "ST ELSEWHERE"),
    ("replace", "PatientName", "SMITH^JOHN", "ANON"),
    ("replace", "StudyDate", "20240102", "00010101"),
    ("replace", "PatientID", "12345678", P.hash_id("12345678")),
    ("empty", "PatientID", "12345678", ""),
    ("replace", "StudyTime", "101530", "000000.00"),
    ("replace", "AcquisitionDateTime", "20240102101530", "00010101010101.000000+0000"),
    ("replace", "InstitutionName", "ST ELSEWHERE", "ANONYMISED"),
    ("replace", "AccessionNumber", "RRV12345678", "ANONYMISED"),
    ("replace", "StudyID", "S1234567", "ANONYMISED"),
    ("replace", "InstanceNumber", 7, 0),
    ("replace", "SliceThickness", 2.5, 0.0),
    ("replace", "Rows", 512, 0),
    ("replace", "PatientAge", "045Y", "000Y"),
    ("replace", "FrameOfReferenceUID", "1.2.3.4.5", P.uid("1.2.3.4.5")),
    ("replace", "PatientName", "", ""),  # nothing to hide in an empty value
    ("empty", "InstitutionName", "ST ELSEWHERE", ""),
    ("empty", "PatientName", "SMITH^JOHN", ""),
    ("empty", "StudyDate", "20240102", "00010101"),
    ("replace_UID", "FrameOfReferenceUID", "1.2.3.4.5", P.uid("1.2.3.4.5")),
    ("replace_UID", "InstitutionName", "ST ELSEWHERE", "ANONYMISED"),
    ("secure-hash", "AccessionNumber", "RRV12345678", P.hash_id("RRV12345678", 16)),
    ("secure-hash", "InstitutionName", "ST ELSEWHERE", P.hash_id("ST ELSEWHERE", 64)),
    ("secure-hash", "PatientID", "12345678", P.hash_id("12345678")),
    ("empty_or_replace", "InstitutionName", "ST ELSEWHERE", "ANONYMISED"),
    ("delete_or_empty", "InstitutionName", "ST ELSEWHERE", ""),
    ("delete_or_replace", "StudyDate", "20240102", "00010101"),
    ("delete_or_empty_or_replace", "PatientName", "SMITH^JOHN", "ANON"),
    ("delete_or_empty_or_replace_UID", "FrameOfReferenceUID", "1.2.3.4.5", P.uid("1.2.3.4.5")),
    ("delete_or_empty_or_replace_UID", "InstitutionName", "ST ELSEWHERE", ""),
]


@pytest.mark.parametrize(("op", "keyword", "original", "expected"), OP_CASES)
def test_operation(tmp_path: Path, op: str, keyword: str, original: Any, expected: Any) -> None:
    anonymiser = _anonymiser(tmp_path, [*IDENTITY, (keyword, op)])
    out = _run(anonymiser, _dataset(**{keyword: original}))
    value = out[keyword].value
    assert (value if value is not None else "") == expected


def test_delete(tmp_path: Path) -> None:
    anonymiser = _anonymiser(tmp_path, [*IDENTITY, ("InstitutionName", "delete")])
    out = _run(anonymiser, _dataset(InstitutionName="ST ELSEWHERE"))
    assert "InstitutionName" not in out


@pytest.mark.parametrize("op", ["secure-hash", "replace", "delete_or_empty_or_replace"])
def test_patient_id_is_the_participant_id_when_given(tmp_path: Path, op: str) -> None:
    anonymiser = _anonymiser(tmp_path, [*IDENTITY, ("PatientID", op)])
    out = _run(anonymiser, _dataset(PatientID="12345678"), participant_id="P-0042")
    assert out.PatientID == "P-0042"
    out = _run(anonymiser, _dataset(PatientID="12345678"))
    assert out.PatientID == P.hash_id("12345678")


def test_multi_valued_uids(tmp_path: Path) -> None:
    anonymiser = _anonymiser(tmp_path, [*IDENTITY, ("ReferencedSOPInstanceUID", "replace_UID")])
    out = _run(anonymiser, _dataset(ReferencedSOPInstanceUID=["1.2.3.4", "1.2.3.5"]))
    assert list(out.ReferencedSOPInstanceUID) == [P.uid("1.2.3.4"), P.uid("1.2.3.5")]


def _nested() -> Dataset:
    ds = _dataset(PatientName="SMITH^JOHN", InstitutionName="ST ELSEWHERE")
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = STUDY_UID
    item.InstitutionName = "ST ELSEWHERE"  # not allowed anywhere
    inner = Dataset()
    inner.PatientID = "12345678"
    item.OtherPatientIDsSequence = Sequence([inner])  # not allowed: gone with its items
    deeper = Dataset()
    deeper.ReferencedSOPInstanceUID = SOP_UID
    deeper.PatientName = "SMITH^JOHN"
    item.ReferencedImageSequence = Sequence([deeper])
    item.private_block(0x0019, "ACME 1.0", create=True).add_new(0x01, "LO", "12345678")
    ds.ReferencedStudySequence = Sequence([item])
    ds.OtherPatientIDsSequence = Sequence([inner])
    block = ds.private_block(0x0019, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "12345678")
    block.add_new(0x02, "LO", "kept private value")
    ds.private_block(0x0029, "OTHER 2.0", create=True).add_new(0x01, "LO", "12345678")
    return ds


NESTED_RULES: list[dict[str, Any]] = [
    *(rule(k, op) for k, op in IDENTITY),
    rule("PatientName", "replace"),
    rule("ReferencedStudySequence", "keep"),
    rule("ReferencedImageSequence", "keep"),
    rule("ReferencedSOPClassUID", "keep"),
    rule("ReferencedSOPInstanceUID", "replace_UID"),
    {"name": "ACME kept value", "group": 0x0019, "element": 0x1002, "op": "keep"},
]


def test_allow_list_applies_at_every_depth_and_to_private_tags(tmp_path: Path) -> None:
    out = _run(_anonymiser(tmp_path, NESTED_RULES), _nested())
    assert "InstitutionName" not in out
    assert "OtherPatientIDsSequence" not in out
    assert (0x0029, 0x0010) not in out and (0x0029, 0x1001) not in out
    assert (0x0019, 0x1001) not in out
    assert out[0x0019, 0x1002].value == "kept private value"
    assert out[0x0019, 0x0010].value == "ACME 1.0"  # its creator travels with it
    (item,) = out.ReferencedStudySequence
    assert set(item.keys()) == {0x00081150, 0x00081155, 0x00081140}
    assert item.ReferencedSOPInstanceUID == out.StudyInstanceUID == P.uid(STUDY_UID)
    (deeper,) = item.ReferencedImageSequence
    assert deeper.ReferencedSOPInstanceUID == out.SOPInstanceUID
    assert deeper.PatientName == "ANON"


def _walk_tags(ds: Dataset) -> Iterator[int]:
    for elem in ds:
        yield elem.tag
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk_tags(item)


def test_every_surviving_element_is_allowed(tmp_path: Path) -> None:
    anonymiser = _anonymiser(tmp_path, NESTED_RULES)
    out = _run(anonymiser, _nested())
    allowed = anonymiser.config.tag_operations.for_manufacturer(None).ops
    assert set(_walk_tags(out)) <= set(allowed)


def test_file_meta_is_rebuilt(tmp_path: Path) -> None:
    out = _run(_anonymiser(tmp_path, IDENTITY), _dataset())
    meta = out.file_meta
    assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID == P.uid(SOP_UID)
    assert meta.MediaStorageSOPClassUID == CTImageStorage
    assert meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert meta.ImplementationClassUID == PIXL_IMPLEMENTATION_CLASS_UID
    assert out.preamble == b"\x00" * 128


def test_implicit_vr_is_preserved(tmp_path: Path) -> None:
    ds = _nested()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    anonymiser = _anonymiser(tmp_path, NESTED_RULES)
    out = _run(anonymiser, ds)
    assert out.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert out.ReferencedStudySequence[0].ReferencedSOPInstanceUID == P.uid(STUDY_UID)
    assert out[0x0019, 0x1002].value == b"kept private value"  # unknown private VR: raw
    assert (0x0019, 0x1001) not in out


def test_rules_must_keep_the_instance_uids(tmp_path: Path) -> None:
    anonymiser = _anonymiser(tmp_path, [("Modality", "keep")])
    with pytest.raises(AnonymisationError, match="SOPInstanceUID"):
        anonymiser.anonymise_instance(_encode(_dataset()))


def test_unreadable_instance_is_dropped(tmp_path: Path) -> None:
    result = _anonymiser(tmp_path, IDENTITY).anonymise_instance(b"\x00garbage")
    assert result == Dropped(DropReason.UNREADABLE.value)
    assert isinstance(result, Dropped) and result.detail


# Instance selection


@pytest.mark.parametrize(
    ("values", "extra", "reason"),
    [
        ({"Modality": "US"}, {}, DropReason.MODALITY),
        (
            {"Manufacturer": "GE"},
            {"allowed_manufacturers": [{"regex": "^siemens"}]},
            DropReason.MANUFACTURER,
        ),
        (
            {"Manufacturer": "Siemens", "SeriesNumber": 99},
            {"allowed_manufacturers": [{"regex": "siemens", "exclude_series_numbers": [99]}]},
            DropReason.SERIES_NUMBER,
        ),
        (
            {"SeriesDescription": "Survey LOCALISER"},
            {"series_filters": ["localiser"]},
            DropReason.SERIES_DESCRIPTION,
        ),
    ],
)
def test_excluded_instances_are_dropped(
    tmp_path: Path, values: dict[str, Any], extra: dict[str, Any], reason: DropReason
) -> None:
    anonymiser = _anonymiser(tmp_path, IDENTITY, **extra)
    result = anonymiser.anonymise_instance(_encode(_dataset(**values)))
    assert result == Dropped(reason.value)


# Studies


@pytest.fixture
def ct_spec() -> StudySpec:
    (spec,) = random_specs(1, seed=7, modalities=("CT",))
    return dataclasses.replace(spec, series_count=4, instances_per_series=3)


def _demo(slug: str, salt: bytes = SALT) -> Anonymiser:
    return Anonymiser(load_project_config(REPO_PROJECTS, slug), Pseudonymiser(KEY, salt))


def _contains(data: bytes, value: str) -> bool:
    return value.lower().encode() in data.lower()


@pytest.mark.parametrize("spec", random_specs(8, seed=3), ids=lambda s: s.modality)
def test_nothing_identifying_survives(tmp_path: Path, spec: StudySpec) -> None:
    slug = "demo-ct-mr" if spec.modality in ("CT", "MR") else "demo-xray"
    anonymiser = _demo(slug)
    sources = write_study(spec, tmp_path / "in")
    result = anonymiser.anonymise_study(sources, tmp_path / "out", participant_id=None)
    assert result.files
    values = identifying_values(spec)
    assert find_leaks(result.files, values) == []
    table = anonymiser.config.tag_operations.for_manufacturer(spec.manufacturer).ops
    for path in result.files:
        data = path.read_bytes()
        assert not [v for v in values if _contains(data, v)]
        ds = pydicom.dcmread(path)
        assert set(_walk_tags(ds)) <= set(table)
        assert ds.PatientID == result.pseudo_patient_id == anonymiser.pseudonyms.hash_id(spec.mrn)


def test_study_output_is_consistent(tmp_path: Path, ct_spec: StudySpec) -> None:
    sources = write_study(ct_spec, tmp_path / "in")
    result = _demo("demo-ct-mr").anonymise_study(sources, tmp_path / "out", "P-0001")
    assert result.pseudo_study_uid == P.uid(ct_spec.study_uid)
    assert result.kept == len(result.files) == 9  # the SCOUT series is filtered
    assert result.dropped == {"series_description": 3}
    by_original_series: dict[str, set[str]] = {}
    for source in sources:
        original = pydicom.dcmread(source)
        path = tmp_path / "out" / f"{P.uid(original.SOPInstanceUID)}.dcm"
        if "SCOUT" in original.SeriesDescription:
            assert not path.exists()
            continue
        out = pydicom.dcmread(path)
        assert out.StudyInstanceUID == result.pseudo_study_uid
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        assert out.PatientID == "P-0001"
        assert out.FrameOfReferenceUID == P.uid(original.FrameOfReferenceUID)
        assert out.ReferencedStudySequence[0].ReferencedSOPInstanceUID == out.StudyInstanceUID
        assert out.pixel_array.tolist() == original.pixel_array.tolist()
        by_original_series.setdefault(original.SeriesInstanceUID, set()).add(out.SeriesInstanceUID)
    assert all(len(uids) == 1 for uids in by_original_series.values())
    assert len({next(iter(u)) for u in by_original_series.values()}) == 3
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_two_projects_give_different_uids(tmp_path: Path, ct_spec: StudySpec) -> None:
    sources = write_study(ct_spec, tmp_path / "in")
    first = _demo("demo-ct-mr").anonymise_study(sources, tmp_path / "a", None)
    second = _demo("demo-ct-mr", salt=b"another-project").anonymise_study(
        sources, tmp_path / "b", None
    )
    assert first.pseudo_study_uid != second.pseudo_study_uid
    assert first.pseudo_patient_id != second.pseudo_patient_id
    assert not {p.name for p in first.files} & {p.name for p in second.files}


RUN_IN_A_NEW_PROCESS = """
import sys
from pathlib import Path
from pixl.anon.config import load_project_config
from pixl.anon.engine import Anonymiser
from pixl.anon.pseudonyms import Pseudonymiser
projects, source, output = map(Path, sys.argv[1:4])
config = load_project_config(projects, "demo-ct-mr")
anonymiser = Anonymiser(config, Pseudonymiser(b"test-hashing-key", b"test-project-salt"))
anonymiser.anonymise_study(sorted(source.glob("*.dcm")), output, None)
"""


def test_separate_processes_give_byte_identical_output(tmp_path: Path, ct_spec: StudySpec) -> None:
    write_study(ct_spec, tmp_path / "in")
    outputs = []
    for run in ("first", "second"):
        output = tmp_path / run
        args = [str(REPO_PROJECTS), str(tmp_path / "in"), str(output)]
        subprocess.run([sys.executable, "-c", RUN_IN_A_NEW_PROCESS, *args], check=True)
        outputs.append({p.name: p.read_bytes() for p in output.iterdir()})
    assert len(outputs[0]) == 9
    assert outputs[0] == outputs[1]


def test_series_with_too_few_instances_are_dropped(tmp_path: Path, ct_spec: StudySpec) -> None:
    sources = write_study(ct_spec, tmp_path / "in")
    series = [pydicom.dcmread(s, stop_before_pixels=True).SeriesNumber for s in sources]
    # series 1 keeps one instance of three; series 3 is the SCOUT
    trimmed = [s for s, n in zip(sources, series, strict=True) if n != 1] + [sources[0]]
    result = _demo("demo-ct-mr").anonymise_study(trimmed, tmp_path / "out", None)
    assert result.kept == 6
    assert result.dropped == {"series_description": 3, "too_few_instances_in_series": 1}
    assert sorted(tmp_path.joinpath("out").iterdir()) == sorted(result.files)


def test_a_study_with_nothing_kept(tmp_path: Path, ct_spec: StudySpec) -> None:
    spec = dataclasses.replace(ct_spec, modality="MR")
    sources = write_study(spec, tmp_path / "in")
    result = _demo("demo-xray").anonymise_study(sources, tmp_path / "out", None)
    assert result.files == [] and result.kept == 0
    assert result.dropped == {"modality": 12}
    assert result.pseudo_study_uid == P.uid(spec.study_uid)


def test_a_leak_refuses_the_study_and_removes_its_files(tmp_path: Path, ct_spec: StudySpec) -> None:
    rules = [*BASE_RULES, ("ImageComments", "keep")]  # free text naming the patient
    anonymiser = _anonymiser(tmp_path, rules, modalities=("CT",), series_filters=["scout"])
    sources = write_study(ct_spec, tmp_path / "in")
    with pytest.raises(AnonymisationError) as caught:
        anonymiser.anonymise_study(sources, tmp_path / "out", None)
    message = str(caught.value)
    assert "ImageComments" in message
    assert ct_spec.mrn not in message
    assert ct_spec.patient_name.split("^")[0] not in message
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_encoding_matches_pydicoms_writer(
    tmp_path: Path, ct_spec: StudySpec, transfer_syntax: UID
) -> None:
    anonymiser = _demo("demo-ct-mr")
    source = write_study(ct_spec, tmp_path / "in")[0]
    original = pydicom.dcmread(source)
    original.file_meta.TransferSyntaxUID = transfer_syntax
    ds = pydicom.dcmread(BytesIO(_encode(original)))
    ds.ReferencedStudySequence[0].private_block(0x0019, "ACME 1.0", create=True).add_new(
        0x01, "LO", "x"
    )
    instance = anonymiser.anonymise_dataset(ds, anonymiser.rules_for(ds), "P-1")
    assert isinstance(instance, AnonymisedInstance)
    reference = BytesIO()
    pydicom.dcmwrite(reference, ds, enforce_file_format=True)
    assert instance.data == reference.getvalue()


# pydicom's bundled files: real vendors' encodings, offline


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",  # implicit VR
        "MR_small_bigendian.dcm",  # explicit VR big endian (retired)
        "MR_small_RLE.dcm",  # encapsulated pixel data
        "image_dfl.dcm",  # deflated
        "SC_rgb_jpeg.dcm",  # says explicit VR, is implicit
        "rtdose_rle.dcm",  # public elements stored as UN
        "693_J2KI.dcm",
    ],
)
def test_real_files(tmp_path: Path, name: str) -> None:
    path = Path(str(get_testdata_file(name)))
    original = pydicom.dcmread(path)
    rules = [(k, op) for k, op in BASE_RULES if k != "InstitutionName"]
    modalities = (str(original.Modality),)
    anonymiser = _anonymiser(tmp_path, rules, modalities=modalities, min_instances_per_series=1)
    result = anonymiser.anonymise_instance(path)
    assert isinstance(result, AnonymisedInstance)
    out = pydicom.dcmread(BytesIO(result.data))
    assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert out.SOPInstanceUID == P.uid(original.SOPInstanceUID)
    assert set(_walk_tags(out)) <= set(anonymiser.config.tag_operations.for_manufacturer(None).ops)
    if "PixelData" in original:
        assert out.PixelData == original.PixelData
    if "PatientName" in original:
        assert out.PatientName in ("ANON", "")
