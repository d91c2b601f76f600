"""The synthetic study generator: valid files, planted identifiers, determinism, speed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian

from pixl.synthetic import (
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    StudySpec,
    identifying_values,
    make_study,
    random_specs,
    write_study,
)

SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",
    "MR": "1.2.840.10008.5.1.4.1.1.4",
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",
    "CR": "1.2.840.10008.5.1.4.1.1.1",
}


def spec(**changes: Any) -> StudySpec:
    base = StudySpec(mrn="12345678", accession_number="RRV87654321", study_uid="1.2.826.0.1.99")
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("modality", ["CT", "MR", "DX", "CR"])
def test_written_files_read_back_as_valid_dicom(tmp_path: Path, modality: str) -> None:
    study = spec(modality=modality, rows=32, columns=48)
    paths = write_study(study, tmp_path)

    assert len(paths) == study.series_count * study.instances_per_series
    for path in paths:
        ds = pydicom.dcmread(path)
        assert path.name == f"{ds.SOPInstanceUID}.dcm"
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert ds.SOPClassUID == SOP_CLASSES[modality]
        assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == modality
        assert ds.StudyInstanceUID == study.study_uid
        assert ds.pixel_array.shape == (32, 48)
        assert ds.pixel_array.dtype == np.uint16
        assert ds.pixel_array.std() > 0
        assert ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x01].value == study.mrn
    assert len({pydicom.dcmread(p).SeriesInstanceUID for p in paths}) == study.series_count


def test_every_identifying_value_is_in_the_written_bytes(tmp_path: Path) -> None:
    study = spec(series_count=3, instances_per_series=2)
    blob = b"".join(path.read_bytes() for path in write_study(study, tmp_path))

    values = identifying_values(study)
    assert {study.mrn, study.accession_number, study.patient_name, study.study_uid} <= values
    assert {study.birth_date, study.study_date} <= values
    missing = {value for value in values if value.encode() not in blob}
    assert not missing


def test_identifying_values_hide_in_nested_private_and_free_text_places() -> None:
    study = spec()
    ds = make_study(study)[0]

    assert ds.OtherPatientIDsSequence[0].PatientID == ds.OtherPatientIDs
    assert ds.RequestAttributesSequence[0].AccessionNumber == study.accession_number
    assert ds.RequestAttributesSequence[0].RequestedProcedureID in identifying_values(study)
    assert ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID == study.study_uid
    assert ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)[0x02].value == study.patient_name
    for text in (ds.ImageComments, ds.StudyComments):
        assert study.patient_name in text
        assert study.mrn in text
    assert study.birth_date not in identifying_values(study, include_dates=False)


def test_same_spec_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_study(spec(), tmp_path / "a")
    second = write_study(spec(), tmp_path / "b")

    assert [p.name for p in first] == [p.name for p in second]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_another_seed_gives_other_uids_and_pixels() -> None:
    one, other = make_study(spec(seed=1)), make_study(spec(seed=2))

    assert not {d.SOPInstanceUID for d in one} & {d.SOPInstanceUID for d in other}
    assert not {d.SeriesInstanceUID for d in one} & {d.SeriesInstanceUID for d in other}
    assert one[0].PixelData != other[0].PixelData


def test_a_scout_series_appears_from_the_third_series_of_ct_and_mr() -> None:
    for modality in ("CT", "MR"):
        descriptions = [d.SeriesDescription for d in make_study(spec(modality=modality))]
        assert "SCOUT" not in descriptions
        descriptions = [
            d.SeriesDescription for d in make_study(spec(modality=modality, series_count=3))
        ]
        assert "SCOUT" in descriptions


def test_random_specs_are_plausible_unique_and_deterministic() -> None:
    specs = random_specs(200, seed=7)

    assert specs == random_specs(200, seed=7)
    assert specs != random_specs(200, seed=8)
    assert all(len(s.mrn) == 8 and s.mrn.isdigit() for s in specs)
    assert len({s.mrn for s in specs}) == 200
    assert len({s.accession_number for s in specs}) == 200
    assert len({s.study_uid for s in specs}) == 200
    assert {s.modality for s in specs} == {"CT", "MR", "DX", "CR"}
    assert all(s.birth_date < s.study_date for s in specs)
    sops = [d.SOPInstanceUID for s in specs[:20] for d in make_study(s)]
    assert len(sops) == len(set(sops))


def test_random_specs_respect_the_modalities_asked() -> None:
    assert {s.modality for s in random_specs(10, seed=1, modalities=("MR",))} == {"MR"}
