"""Helpers for the anon tests: tag rules by keyword and a projects folder in PIXL's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import tag_for_keyword

KEY = b"test-hashing-key"
SALT = b"test-project-salt"

# The usual image-relevant elements: identity, patient, study, series, plane, pixels.
BASE_RULES: list[tuple[str, str]] = [
    ("SpecificCharacterSet", "keep"),
    ("ImageType", "keep"),
    ("SOPClassUID", "keep"),
    ("SOPInstanceUID", "replace_UID"),
    ("StudyDate", "replace"),
    ("SeriesDate", "replace"),
    ("StudyTime", "replace"),
    ("AccessionNumber", "replace"),
    ("Modality", "keep"),
    ("Manufacturer", "keep"),
    ("ReferringPhysicianName", "replace"),
    ("StudyDescription", "keep"),
    ("SeriesDescription", "keep"),
    ("ManufacturerModelName", "keep"),
    ("ReferencedStudySequence", "keep"),
    ("ReferencedSOPClassUID", "keep"),
    ("ReferencedSOPInstanceUID", "replace_UID"),
    ("PatientName", "replace"),
    ("PatientID", "secure-hash"),
    ("PatientBirthDate", "replace"),
    ("PatientSex", "keep"),
    ("BodyPartExamined", "keep"),
    ("SliceThickness", "keep"),
    ("KVP", "keep"),
    ("StudyInstanceUID", "replace_UID"),
    ("SeriesInstanceUID", "replace_UID"),
    ("SeriesNumber", "keep"),
    ("InstanceNumber", "keep"),
    ("ImagePositionPatient", "keep"),
    ("ImageOrientationPatient", "keep"),
    ("FrameOfReferenceUID", "replace_UID"),
    ("SamplesPerPixel", "keep"),
    ("PhotometricInterpretation", "keep"),
    ("Rows", "keep"),
    ("Columns", "keep"),
    ("PixelSpacing", "keep"),
    ("BitsAllocated", "keep"),
    ("BitsStored", "keep"),
    ("HighBit", "keep"),
    ("PixelRepresentation", "keep"),
    ("RescaleIntercept", "keep"),
    ("RescaleSlope", "keep"),
    ("PixelData", "keep"),
    ("InstitutionName", "delete"),
]


def rule(keyword: str, op: str) -> dict[str, Any]:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return {"name": keyword, "group": tag >> 16, "element": tag & 0xFFFF, "op": op}


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def project_yaml(
    name: str = "test-project",
    modalities: tuple[str, ...] = ("CT", "MR"),
    base: tuple[str, ...] = ("base.yaml",),
    overrides: tuple[str, ...] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "project": {"name": name, "modalities": list(modalities)},
        "tag_operation_files": {
            "base": list(base),
            "manufacturer_overrides": None if overrides is None else list(overrides),
        },
        "destination": {"dicom": "folder", "parquet": "none"},
    }
    data.update(extra)
    return data
