"""The simulated archive as a Q/R SCP, seen through plain pynetdicom requests."""

from __future__ import annotations

import select
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from dicom_helpers import STUDY_A, STUDY_C, free_port, layout
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage
from pynetdicom import AE

from pixl.dicom.cache import FolderCache
from pixl.dicom.network import PATIENT_ROOT_FIND, STUDY_ROOT_FIND, VERIFICATION
from pixl.dicom.scu import DicomArchive
from pixl.dicom.simulated_archive import SimulatedArchive
from pixl.settings import DicomNode

StartArchive = Callable[..., SimulatedArchive]


def c_find(
    archive: SimulatedArchive, model: str, **keys: str | list[str]
) -> tuple[int, list[Dataset]]:
    """Final status and identifiers of one C-FIND."""
    ae = AE(ae_title="TEST")
    ae.add_requested_context(model)
    assoc = ae.associate(archive.node.host, archive.node.port, ae_title=archive.node.ae_title)
    assert assoc.is_established
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    found: list[Dataset] = []
    final = -1
    for status, identifier in assoc.send_c_find(query, model):
        if status.Status in (0xFF00, 0xFF01):
            assert identifier is not None
            found.append(identifier)
        else:
            final = int(status.Status)
    assoc.release()
    return final, found


def test_echo(start_archive: StartArchive) -> None:
    archive = start_archive()
    ae = AE(ae_title="TEST")
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate(archive.node.host, archive.node.port, ae_title=archive.node.ae_title)
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_index_covers_every_file(start_archive: StartArchive) -> None:
    assert len(start_archive().instances) == 6 + 2 + 12


def test_patient_root_study_level_by_patient_id(start_archive: StartArchive) -> None:
    status, found = c_find(
        start_archive(),
        PATIENT_ROOT_FIND,
        QueryRetrieveLevel="STUDY",
        PatientID="MRN002",
        StudyInstanceUID="",
        AccessionNumber="",
    )
    assert status == 0x0000
    assert [(d.StudyInstanceUID, d.AccessionNumber) for d in found] == [
        (STUDY_C.study_uid, "ACC002")
    ]


def test_wildcards_and_universal_match(start_archive: StartArchive) -> None:
    archive = start_archive()
    _, wildcard = c_find(
        archive, STUDY_ROOT_FIND, QueryRetrieveLevel="STUDY", AccessionNumber="ACC00?",
        StudyInstanceUID="",
    )  # fmt: skip
    _, universal = c_find(archive, STUDY_ROOT_FIND, QueryRetrieveLevel="STUDY", PatientID="")
    assert len(wildcard) == len(universal) == 3


def test_series_level_returns_modality_and_counts(start_archive: StartArchive) -> None:
    _, found = c_find(
        start_archive(), STUDY_ROOT_FIND, QueryRetrieveLevel="SERIES",
        StudyInstanceUID=STUDY_C.study_uid, SeriesInstanceUID="", Modality="",
        NumberOfSeriesRelatedInstances="", SeriesDescription="",
    )  # fmt: skip
    assert {d.SeriesInstanceUID for d in found} == set(layout(STUDY_C))
    assert {(d.Modality, d.NumberOfSeriesRelatedInstances) for d in found} == {("MR", 4)}
    assert all(d.SeriesDescription in ("", None) for d in found)


def test_image_level_without_series_refused_only_when_asked(
    start_archive: StartArchive,
) -> None:
    keys = {"QueryRetrieveLevel": "IMAGE", "StudyInstanceUID": STUDY_A.study_uid}
    status, found = c_find(start_archive(), STUDY_ROOT_FIND, SOPInstanceUID="", **keys)
    assert status == 0x0000
    assert len(found) == 6
    strict = start_archive(refuse_instance_level_without_series=True)
    status, found = c_find(strict, STUDY_ROOT_FIND, SOPInstanceUID="", **keys)
    assert status == 0xC000
    assert found == []


def test_unknown_level_is_refused(start_archive: StartArchive) -> None:
    status, _ = c_find(start_archive(), STUDY_ROOT_FIND, QueryRetrieveLevel="FRAME")
    assert status == 0xA900


def wait_for_ready(process: subprocess.Popen[str], seconds: float = 15) -> None:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], seconds)
    assert readable, "server did not print 'ready'"
    assert process.stdout.readline().strip() == "ready"


def test_command_line_servers(archive_folder: Path, tmp_path: Path) -> None:
    """`python -m` runs the archive and the storage SCP; a move goes from one to the other."""
    cache_node = DicomNode(ae_title="PIXLCACHE", host="127.0.0.1", port=free_port())
    archive_node = DicomNode(ae_title="VNA", host="127.0.0.1", port=free_port())
    commands = [
        ["pixl.dicom.storage_scp", "--root", str(tmp_path), "--port", str(cache_node.port)],
        ["pixl.dicom.simulated_archive", "--folder", str(archive_folder), "--ae", "VNA",
         "--port", str(archive_node.port), "--dest", f"PIXLCACHE=127.0.0.1:{cache_node.port}"],
    ]  # fmt: skip
    processes = [
        subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True)
        for args in commands
    ]
    try:
        for process in processes:
            wait_for_ready(process)
        DicomArchive(archive_node, "PIXL", timeout=5).move("PIXLCACHE", STUDY_A.study_uid)
        assert FolderCache(tmp_path, cache_node).instances(STUDY_A.study_uid) == layout(STUDY_A)
    finally:
        for process in processes:
            process.terminate()
    assert [process.wait(10) for process in processes] == [0, 0]


def test_peak_concurrent_associations(start_archive: StartArchive) -> None:
    archive = start_archive()
    barrier = threading.Barrier(3, timeout=10)

    def hold_an_association() -> None:
        with DicomArchive(archive.node, "PIXL", timeout=5):
            barrier.wait()

    threads = [threading.Thread(target=hold_an_association) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    DicomArchive(archive.node, "PIXL", timeout=5).echo()
    assert archive.stats.peak_concurrent_associations == 3


def write_headers(folder: Path, studies: int, series: int, instances: int) -> None:
    """Header-only files (no pixels): `studies` x `series` x `instances`, quick to write."""
    for study in range(studies):
        for serie in range(series):
            for instance in range(instances):
                ds = Dataset()
                ds.file_meta = FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.SOPClassUID = SecondaryCaptureImageStorage
                ds.SOPInstanceUID = f"1.2.3.{study}.{serie}.{instance}"
                ds.SeriesInstanceUID = f"1.2.3.{study}.{serie}"
                ds.StudyInstanceUID = f"1.2.3.{study}"
                ds.PatientID = f"MRN{study // 2}"
                ds.AccessionNumber = f"ACC{study}"
                ds.Modality = "OT"
                dcmwrite(folder / f"{ds.SOPInstanceUID}.dcm", ds, enforce_file_format=True)


def test_exact_keys_are_looked_up_without_scanning(tmp_path: Path) -> None:
    """2,000 instances: a C-FIND by exact UIDs or MRN + accession scans none of them."""
    write_headers(tmp_path, studies=100, series=2, instances=10)
    node = DicomNode(ae_title="VNA", host="127.0.0.1", port=free_port())
    archive = SimulatedArchive(tmp_path, node, {})
    archive.start()
    try:
        assert len(archive.instances) == 2000
        study = {"QueryRetrieveLevel": "STUDY", "NumberOfStudyRelatedInstances": ""}
        _, by_uid = c_find(archive, STUDY_ROOT_FIND, StudyInstanceUID="1.2.3.41", **study)
        _, by_accession = c_find(
            archive, PATIENT_ROOT_FIND, PatientID="MRN20", AccessionNumber="ACC41",
            StudyInstanceUID="", **study,
        )  # fmt: skip
        _, series = c_find(
            archive, STUDY_ROOT_FIND, QueryRetrieveLevel="SERIES", StudyInstanceUID="1.2.3.41",
            SeriesInstanceUID="", NumberOfSeriesRelatedInstances="",
        )  # fmt: skip
        _, images = c_find(
            archive, STUDY_ROOT_FIND, QueryRetrieveLevel="IMAGE", StudyInstanceUID="1.2.3.41",
            SeriesInstanceUID="1.2.3.41.1", SOPInstanceUID=["1.2.3.41.1.7", "1.2.3.41.1.2", "9"],
        )  # fmt: skip
        assert archive.stats.full_scans == 0
        for found in (by_uid, by_accession):
            assert [(d.StudyInstanceUID, d.NumberOfStudyRelatedInstances) for d in found] == [
                ("1.2.3.41", 20)
            ]
        assert {(d.SeriesInstanceUID, d.NumberOfSeriesRelatedInstances) for d in series} == {
            ("1.2.3.41.0", 10),
            ("1.2.3.41.1", 10),
        }
        assert {d.SOPInstanceUID for d in images} == {"1.2.3.41.1.7", "1.2.3.41.1.2"}

        _, wildcard = c_find(
            archive, STUDY_ROOT_FIND, QueryRetrieveLevel="STUDY", PatientID="MRN20",
            AccessionNumber="ACC4*", StudyInstanceUID="",
        )  # fmt: skip
        assert {d.StudyInstanceUID for d in wildcard} == {"1.2.3.40", "1.2.3.41"}
        assert archive.stats.full_scans == 1
    finally:
        archive.stop()
