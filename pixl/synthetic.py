"""Synthetic DICOM studies for the demo, the tests and the benchmarks.

Every study is generated from a `StudySpec`: identifying values are planted where real ones
hide (patient module, nested sequences, a private block, free-text comments, UIDs), so a
de-identification test can search the output bytes for each value of `identifying_values`.
Everything, pixel data included, is deterministic from the spec.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

__all__ = [
    "PRIVATE_CREATOR",
    "PRIVATE_GROUP",
    "StudySpec",
    "identifying_values",
    "make_study",
    "random_specs",
    "write_study",
]

PRIVATE_GROUP = 0x0019
PRIVATE_CREATOR = "ACME 1.0"
_DETACHED_STUDY_MANAGEMENT = "1.2.840.10008.3.1.2.3.1"
_BITS_STORED = 12  # pixel values < 4096: no byte of the pixel data is an ASCII digit or letter

_SOP_CLASSES = {
    "CT": CTImageStorage,
    "MR": MRImageStorage,
    "DX": DigitalXRayImageStorageForPresentation,
    "CR": ComputedRadiographyImageStorage,
}
_SERIES_DESCRIPTIONS = {
    "CT": ("AXIAL 5mm", "CORONAL 3mm", "SCOUT", "AXIAL 1mm"),
    "MR": ("T1 AXIAL", "T2 SAGITTAL", "SCOUT", "FLAIR AXIAL"),
    "DX": ("CHEST PA", "CHEST LAT"),
    "CR": ("CHEST AP", "PELVIS AP"),
}
_BODY_PARTS = {"CT": "CHEST", "MR": "HEAD", "DX": "CHEST", "CR": "CHEST"}

_SURNAMES = (
    "SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES", "PATEL",
    "ROBINSON", "WRIGHT", "THOMPSON", "EVANS", "WALKER", "WHITE", "ROBERTS", "GREEN", "HALL",
    "KHAN", "CLARKE", "OKAFOR", "NOWAK", "MURPHY", "CHEN",
)  # fmt: skip
_GIVEN_NAMES = (
    "OLIVER", "AMELIA", "GEORGE", "ISLA", "HARRY", "AVA", "NOAH", "MIA", "JACK", "GRACE",
    "LEO", "FREYA", "ARTHUR", "LILY", "MUHAMMAD", "EMILY", "OSCAR", "SOPHIA", "PRIYA", "TOMASZ",
)  # fmt: skip
_INSTITUTIONS = (
    ("ST ELSEWHERE GENERAL HOSPITAL", "1 Elsewhere Road^^London^^NW1 2AB^UK"),
    ("NORTHFIELD ROYAL INFIRMARY", "22 Infirmary Lane^^Leeds^^LS1 3EX^UK"),
    ("RIVERSIDE UNIVERSITY HOSPITAL", "7 Quay Street^^Bristol^^BS1 4QA^UK"),
)


@dataclass(frozen=True)
class StudySpec:
    """What to generate. `seed` derives series, SOP and frame-of-reference UIDs and pixels."""

    mrn: str
    accession_number: str
    study_uid: str
    patient_name: str = "DOE^JANE"
    birth_date: str = "19700101"
    study_date: str = "20240102"
    modality: str = "CT"
    series_count: int = 2
    instances_per_series: int = 3
    rows: int = 64
    columns: int = 64
    manufacturer: str = "ACME Medical"
    seed: int = 0


@dataclass(frozen=True)
class _People:
    """Identifying values derived from the spec that the spec does not name."""

    other_patient_id: str
    study_id: str
    requested_procedure_id: str
    referring: str
    performing: str
    operator: str
    institution: str
    address: str
    station: str
    device_serial: str
    study_time: str


def _digest(*parts: object) -> int:
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def _uid(*parts: object) -> str:
    """A deterministic UID under the UUID-derived root 2.25 (PS3.5 B.2)."""
    return f"2.25.{_digest(*parts)}"


def _people(spec: StudySpec) -> _People:
    rnd = random.Random(_digest("people", spec.study_uid, spec.seed))

    def name() -> str:
        return f"{rnd.choice(_SURNAMES)}^{rnd.choice(_GIVEN_NAMES)}"

    institution, address = rnd.choice(_INSTITUTIONS)
    return _People(
        other_patient_id=f"{rnd.randrange(400_000_000, 999_999_999):09d}{rnd.randrange(10)}",
        study_id=f"S{spec.accession_number[-7:]}",
        requested_procedure_id=f"RP{spec.accession_number[-8:]}",
        referring=f"{name()}^^DR",
        performing=name(),
        operator=name(),
        institution=institution,
        address=address,
        station=f"{spec.modality}SCAN{rnd.randrange(1, 10)}",
        device_serial=f"SN{rnd.randrange(10**7, 10**8)}",
        study_time=f"{rnd.randrange(7, 19):02d}{rnd.randrange(60):02d}{rnd.randrange(60):02d}",
    )


def _series_uid(spec: StudySpec, series: int) -> str:
    return _uid("series", spec.study_uid, spec.seed, series)


def _sop_uid(spec: StudySpec, series: int, instance: int) -> str:
    return _uid("sop", spec.study_uid, spec.seed, series, instance)


def _frame_of_reference_uid(spec: StudySpec, series: int) -> str:
    return _uid("for", spec.study_uid, spec.seed, series)


def _pixels(spec: StudySpec, series: int) -> np.ndarray:
    """A bright disc on a dark background plus noise: one (instances, rows, columns) block."""
    rng = np.random.default_rng([spec.seed, series, _digest(spec.study_uid) % 2**32])
    y, x = np.ogrid[: spec.rows, : spec.columns]
    radius = min(spec.rows, spec.columns) / 3
    disc = ((y - spec.rows / 2) ** 2 + (x - spec.columns / 2) ** 2 <= radius**2) * 2000
    noise = rng.integers(0, 1000, (spec.instances_per_series, spec.rows, spec.columns))
    return (noise + disc + 100).astype("<u2")


def _patient_and_study(ds: Dataset, spec: StudySpec, people: _People) -> None:
    ds.PatientName = spec.patient_name
    ds.PatientID = spec.mrn
    ds.IssuerOfPatientID = "HOSPITAL MRN"
    ds.OtherPatientIDs = people.other_patient_id
    other = Dataset()
    other.PatientID = people.other_patient_id
    other.IssuerOfPatientID = "NHS"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = [other]
    ds.PatientBirthDate = spec.birth_date
    ds.PatientSex = "F"
    ds.StudyInstanceUID = spec.study_uid
    ds.StudyDate = spec.study_date
    ds.StudyTime = people.study_time
    ds.AccessionNumber = spec.accession_number
    ds.StudyID = people.study_id
    ds.StudyDescription = f"{spec.modality} {_BODY_PARTS[spec.modality]}"
    ds.StudyComments = f"Study for {spec.patient_name} (MRN {spec.mrn}), see previous report."
    ds.ReferringPhysicianName = people.referring
    request = Dataset()
    request.AccessionNumber = spec.accession_number
    request.RequestedProcedureID = people.requested_procedure_id
    request.ScheduledProcedureStepID = f"SPS{spec.accession_number[-8:]}"
    ds.RequestAttributesSequence = [request]
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = _DETACHED_STUDY_MANAGEMENT
    referenced.ReferencedSOPInstanceUID = spec.study_uid
    ds.ReferencedStudySequence = [referenced]


def _equipment(ds: Dataset, spec: StudySpec, people: _People) -> None:
    ds.Manufacturer = spec.manufacturer
    ds.ManufacturerModelName = f"Synth {spec.modality} 3000"
    ds.SoftwareVersions = "1.0.0"
    ds.InstitutionName = people.institution
    ds.InstitutionAddress = people.address
    ds.StationName = people.station
    ds.DeviceSerialNumber = people.device_serial
    ds.PerformingPhysicianName = people.performing
    ds.OperatorsName = people.operator


def _modality_specific(ds: Dataset, modality: str, instance: int, thickness: float) -> None:
    if modality in ("CT", "MR"):
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SliceThickness = thickness
        ds.ImagePositionPatient = [-120.0, -120.0, instance * thickness]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceLocation = instance * thickness
        ds.PositionReferenceIndicator = ""
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.ImagerPixelSpacing = [0.2, 0.2]
        ds.PatientOrientation = ["L", "F"]
        ds.ViewPosition = "PA"
    if modality == "CT":
        ds.KVP = 120
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
    elif modality == "MR":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 500.0
        ds.EchoTime = 15.0
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = 1.5
    elif modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.DetectorType = "DIRECT"
        ds.KVP = 110
    else:
        ds.KVP = 80


def _instance(
    spec: StudySpec, people: _People, series: int, instance: int, pixels: np.ndarray
) -> Dataset:
    sop_class = _SOP_CLASSES[spec.modality]
    sop_uid = _sop_uid(spec, series, instance)
    descriptions = _SERIES_DESCRIPTIONS[spec.modality]
    thickness = 5.0 if series % 2 == 0 else 3.0

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = spec.modality
    _patient_and_study(ds, spec, people)
    _equipment(ds, spec, people)

    ds.SeriesInstanceUID = _series_uid(spec, series)
    ds.SeriesNumber = series + 1
    ds.SeriesDescription = descriptions[series % len(descriptions)]
    ds.SeriesDate = spec.study_date
    ds.SeriesTime = people.study_time
    ds.AcquisitionDate = spec.study_date
    ds.AcquisitionTime = people.study_time
    ds.ContentDate = spec.study_date
    ds.ContentTime = people.study_time
    ds.BodyPartExamined = _BODY_PARTS[spec.modality]
    ds.FrameOfReferenceUID = _frame_of_reference_uid(spec, series)
    ds.InstanceNumber = instance + 1
    ds.AcquisitionNumber = 1
    ds.ImageComments = f"{spec.patient_name} {spec.mrn} scanned on {people.station}"
    _modality_specific(ds, spec.modality, instance, thickness)

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.PixelSpacing = [0.5, 0.5]
    ds.BitsAllocated = 16
    ds.BitsStored = _BITS_STORED
    ds.HighBit = _BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = 1200
    ds.WindowWidth = 2400
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelData = pixels[instance].tobytes()

    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", spec.mrn)
    block.add_new(0x02, "LO", spec.patient_name)
    return ds


def make_study(spec: StudySpec) -> list[Dataset]:
    """Every instance of the study, each a complete file dataset (Explicit VR Little Endian)."""
    if spec.modality not in _SOP_CLASSES:
        raise ValueError(f"modality {spec.modality!r} is not one of {sorted(_SOP_CLASSES)}")
    people = _people(spec)
    datasets = []
    for series in range(spec.series_count):
        pixels = _pixels(spec, series)
        for instance in range(spec.instances_per_series):
            datasets.append(_instance(spec, people, series, instance, pixels))
    return datasets


def write_study(spec: StudySpec, folder: Path) -> list[Path]:
    """Write the study as `<folder>/<sop_uid>.dcm` files (folder created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in make_study(spec):
        path = folder / f"{ds.SOPInstanceUID}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def identifying_values(spec: StudySpec, include_dates: bool = True) -> set[str]:
    """Every identifying string `make_study` plants; none may survive de-identification.

    Times are planted too but not listed: six digits are too short to search for safely.
    `include_dates=False` leaves out the birth and study dates (for date-keeping projects).
    """
    people = _people(spec)
    values = {
        spec.mrn,
        spec.accession_number,
        spec.patient_name,
        spec.study_uid,
        people.other_patient_id,
        people.study_id,
        people.requested_procedure_id,
        f"SPS{spec.accession_number[-8:]}",
        people.referring,
        people.performing,
        people.operator,
        people.institution,
        people.address,
        people.station,
        people.device_serial,
    }
    for series in range(spec.series_count):
        values.add(_series_uid(spec, series))
        values.add(_frame_of_reference_uid(spec, series))
        values.update(_sop_uid(spec, series, i) for i in range(spec.instances_per_series))
    if include_dates:
        values.update({spec.birth_date, spec.study_date})
    return values


def random_specs(
    count: int, seed: int, modalities: tuple[str, ...] = ("CT", "MR", "DX", "CR")
) -> list[StudySpec]:
    """`count` plausible studies of distinct patients, deterministic from `seed`.

    Sizes are the `StudySpec` defaults; use `dataclasses.replace` to change them.
    """
    rnd = random.Random(seed)
    mrns = rnd.sample(range(10_000_000, 100_000_000), count)
    accessions = rnd.sample(range(10_000_000, 100_000_000), count)
    specs = []
    for index in range(count):
        birth = date(1930, 1, 1) + timedelta(days=rnd.randrange(80 * 365))
        study = date(2015, 1, 1) + timedelta(days=rnd.randrange(10 * 365))
        specs.append(
            StudySpec(
                mrn=f"{mrns[index]:08d}",
                accession_number=f"RRV{accessions[index]:08d}",
                study_uid=_uid("study", seed, index),
                patient_name=f"{rnd.choice(_SURNAMES)}^{rnd.choice(_GIVEN_NAMES)}",
                birth_date=birth.strftime("%Y%m%d"),
                study_date=study.strftime("%Y%m%d"),
                modality=modalities[index % len(modalities)],
                seed=_digest("spec", seed, index) % 2**31,
            )
        )
    return specs
