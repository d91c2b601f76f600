"""Studies and REST helpers shared by the Orthanc tests (fixtures live in conftest.py)."""

from __future__ import annotations

from io import BytesIO

import pydicom

from pixl.dicom.orthanc import OrthancProcess
from pixl.synthetic import StudySpec, make_study

#: Two studies under one MRN and accession number, and a third patient's study.
STUDY_A = StudySpec(
    mrn="MRN101", accession_number="ACC101", study_uid="1.2.826.0.1.3680043.10.2.1",
    series_count=3, instances_per_series=4, rows=32, columns=32, seed=11,
)  # fmt: skip
STUDY_B = StudySpec(
    mrn="MRN101", accession_number="ACC101", study_uid="1.2.826.0.1.3680043.10.2.2",
    series_count=1, instances_per_series=2, rows=32, columns=32, seed=12, modality="DX",
)  # fmt: skip
STUDY_C = StudySpec(
    mrn="MRN102", accession_number="ACC102", study_uid="1.2.826.0.1.3680043.10.2.3",
    series_count=2, instances_per_series=5, rows=32, columns=32, seed=13, modality="MR",
)  # fmt: skip
STUDIES = (STUDY_A, STUDY_B, STUDY_C)

#: The AE title pixl calls archives with; the archive lists it in its DicomModalities.
PIXL_AE = "PIXL"


def part10(spec: StudySpec) -> dict[str, bytes]:
    """SOP Instance UID -> Part 10 file bytes of every instance of a synthetic study."""
    files = {}
    for ds in make_study(spec):
        buffer = BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        files[str(ds.SOPInstanceUID)] = buffer.getvalue()
    return files


def layout(spec: StudySpec) -> dict[str, set[str]]:
    """Series UID -> SOP Instance UIDs of a synthetic study."""
    series: dict[str, set[str]] = {}
    for ds in make_study(spec):
        series.setdefault(str(ds.SeriesInstanceUID), set()).add(str(ds.SOPInstanceUID))
    return series


def upload(server: OrthancProcess, *specs: StudySpec) -> None:
    """POST every instance of the studies to the server's `/instances`."""
    server.upload(data for spec in specs for data in part10(spec).values())


def last_change(server: OrthancProcess) -> int:
    return int(server.api("GET", "/changes?last")["Last"])


def stored_since(server: OrthancProcess, since: int) -> int:
    """How many instances Orthanc received (NewInstance changes) after change `since`."""
    count = 0
    while True:
        answer = server.api("GET", f"/changes?since={since}&limit=1000")
        count += sum(1 for change in answer["Changes"] if change["ChangeType"] == "NewInstance")
        if answer["Done"]:
            return count
        since = int(answer["Last"])


def delete_instances(server: OrthancProcess, sop_uids: set[str]) -> None:
    """Delete the given instances from an Orthanc, looked up by SOP Instance UID."""
    for sop_uid in sop_uids:
        (found,) = server.api("POST", "/tools/lookup", data=sop_uid)
        server.api("DELETE", found["Path"])
