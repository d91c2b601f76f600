"""Studies and helpers shared by the DICOM tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket

from pixl.synthetic import StudySpec, make_study

#: Two studies under one MRN and accession number, and a third patient's study.
STUDY_A = StudySpec(
    mrn="MRN001", accession_number="ACC001", study_uid="1.2.826.0.1.3680043.10.1.1",
    series_count=2, instances_per_series=3, rows=16, columns=16, seed=1,
)  # fmt: skip
STUDY_B = StudySpec(
    mrn="MRN001", accession_number="ACC001", study_uid="1.2.826.0.1.3680043.10.1.2",
    series_count=1, instances_per_series=2, rows=16, columns=16, seed=2,
)  # fmt: skip
STUDY_C = StudySpec(
    mrn="MRN002", accession_number="ACC002", study_uid="1.2.826.0.1.3680043.10.1.3",
    series_count=3, instances_per_series=4, rows=16, columns=16, seed=3, modality="MR",
)  # fmt: skip
STUDIES = (STUDY_A, STUDY_B, STUDY_C)


def free_port() -> int:
    """A TCP port nothing listens on right now (pynetdicom servers need a fixed port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def layout(spec: StudySpec) -> dict[str, set[str]]:
    """Series UID -> SOP Instance UIDs of a synthetic study."""
    series: dict[str, set[str]] = {}
    for ds in make_study(spec):
        series.setdefault(str(ds.SeriesInstanceUID), set()).add(str(ds.SOPInstanceUID))
    return series
