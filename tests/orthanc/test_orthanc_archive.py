"""DicomArchive, pixl's Q/R SCU, against a real Orthanc acting as VNA: C-FIND at every
level and C-MOVE into an Orthanc raw cache and into pixl's own storage SCP."""

from __future__ import annotations

from pathlib import Path

import pytest
from orthanc_helpers import PIXL_AE, STUDY_A, STUDY_B, STUDY_C, layout

from pixl.dicom.cache import FolderCache
from pixl.dicom.orthanc import OrthancCache, OrthancProcess
from pixl.dicom.scu import DicomArchive, MoveOutcome, StudyMatch
from pixl.dicom.storage_scp import StorageSCP
from pixl.errors import ArchiveError
from pixl.local_stack import free_port
from pixl.settings import DicomNode


@pytest.fixture(scope="module")
def archive(vna: OrthancProcess) -> DicomArchive:
    return DicomArchive(vna.node, calling_ae=PIXL_AE, timeout=10)


def test_echo(archive: DicomArchive) -> None:
    archive.echo()


def test_find_study_by_uid(archive: DicomArchive) -> None:
    assert archive.find_studies(study_uid=STUDY_A.study_uid) == [StudyMatch(STUDY_A.study_uid, 12)]


def test_find_by_mrn_and_accession_returns_every_matching_study(archive: DicomArchive) -> None:
    matches = archive.find_studies(mrn=STUDY_A.mrn, accession_number=STUDY_A.accession_number)
    assert sorted(matches, key=lambda m: m.study_uid) == [
        StudyMatch(STUDY_A.study_uid, 12),
        StudyMatch(STUDY_B.study_uid, 2),
    ]


def test_find_unknown_study_is_empty(archive: DicomArchive) -> None:
    assert archive.find_studies(study_uid="1.2.3.4.5") == []
    assert archive.find_studies(mrn="NOPE", accession_number=STUDY_A.accession_number) == []


def test_find_series(archive: DicomArchive) -> None:
    expected = {series: len(sops) for series, sops in layout(STUDY_C).items()}
    assert archive.find_series(STUDY_C.study_uid) == expected


def test_find_instances_of_one_series(archive: DicomArchive) -> None:
    for series_uid, sops in layout(STUDY_C).items():
        assert archive.find_instances(STUDY_C.study_uid, series_uid) == sops


def test_unknown_calling_ae_is_refused(vna: OrthancProcess) -> None:
    stranger = DicomArchive(vna.node, calling_ae="STRANGER", timeout=5)
    with pytest.raises(ArchiveError, match=str(vna.node)):
        stranger.find_studies(study_uid=STUDY_A.study_uid)


def test_move_whole_study(archive: DicomArchive, cache: OrthancCache) -> None:
    outcome = archive.move(cache.node.ae_title, STUDY_A.study_uid)
    assert outcome == MoveOutcome(completed=12)
    assert cache.instances(STUDY_A.study_uid) == layout(STUDY_A)
    assert cache.instances(STUDY_B.study_uid) == {}


def test_move_one_series(archive: DicomArchive, cache: OrthancCache) -> None:
    series_uid, sops = sorted(layout(STUDY_C).items())[1]
    outcome = archive.move(cache.node.ae_title, STUDY_C.study_uid, [series_uid])
    assert outcome == MoveOutcome(completed=len(sops))
    assert cache.instances(STUDY_C.study_uid) == {series_uid: sops}


def test_move_specific_instances(archive: DicomArchive, cache: OrthancCache) -> None:
    wanted = {series: sorted(sops)[:2] for series, sops in layout(STUDY_C).items()}
    outcome = archive.move(cache.node.ae_title, STUDY_C.study_uid, sop_uids=wanted)
    assert outcome == MoveOutcome(completed=4)
    assert cache.instances(STUDY_C.study_uid) == {s: set(u) for s, u in wanted.items()}


def test_move_to_unknown_destination(archive: DicomArchive, vna: OrthancProcess) -> None:
    with pytest.raises(ArchiveError) as error:
        archive.move("NOWHERE", STUDY_A.study_uid)
    assert str(vna.node) in str(error.value)
    assert STUDY_A.study_uid in str(error.value)


def test_move_into_pixl_storage_scp(
    archive: DicomArchive, vna: OrthancProcess, tmp_path: Path
) -> None:
    node = DicomNode(ae_title="PIXLSCP", host="127.0.0.1", port=free_port())
    scp = StorageSCP(tmp_path, node)
    scp.start()
    try:
        vna.add_modality("pixlscp", node)
        outcome = archive.move(node.ae_title, STUDY_C.study_uid)
    finally:
        scp.stop()
    assert outcome == MoveOutcome(completed=10)
    assert FolderCache(tmp_path, node).instances(STUDY_C.study_uid) == layout(STUDY_C)
