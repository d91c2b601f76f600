"""DicomArchive (the Q/R SCU) against the simulated archive, over real associations."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest
from dicom_helpers import STUDY_A, STUDY_B, STUDY_C, free_port, layout

from pixl.dicom.cache import FolderCache
from pixl.dicom.scu import DicomArchive, MoveOutcome, StudyMatch
from pixl.dicom.simulated_archive import SimulatedArchive
from pixl.errors import ArchiveError
from pixl.settings import DicomNode

StartArchive = Callable[..., SimulatedArchive]


def scu(archive: SimulatedArchive, timeout: float = 5) -> DicomArchive:
    return DicomArchive(archive.node, calling_ae="PIXL", timeout=timeout)


def test_find_study_by_uid(start_archive: StartArchive) -> None:
    matches = scu(start_archive()).find_studies(study_uid=STUDY_A.study_uid)
    assert matches == [StudyMatch(STUDY_A.study_uid, 6)]


def test_find_by_mrn_and_accession_returns_every_matching_study(
    start_archive: StartArchive,
) -> None:
    matches = scu(start_archive()).find_studies(mrn="MRN001", accession_number="ACC001")
    assert sorted(matches, key=lambda m: m.study_uid) == [
        StudyMatch(STUDY_A.study_uid, 6),
        StudyMatch(STUDY_B.study_uid, 2),
    ]


def test_find_unknown_study_is_empty(start_archive: StartArchive) -> None:
    archive = scu(start_archive())
    assert archive.find_studies(study_uid="1.2.3.4.5") == []
    assert archive.find_studies(mrn="NOPE", accession_number="ACC001") == []


def test_find_needs_a_key(start_archive: StartArchive) -> None:
    with pytest.raises(ValueError):
        scu(start_archive()).find_studies()


def test_find_series(start_archive: StartArchive) -> None:
    expected = {series: len(sops) for series, sops in layout(STUDY_C).items()}
    assert scu(start_archive()).find_series(STUDY_C.study_uid) == expected


@pytest.mark.parametrize("refuse", [False, True])
def test_find_instances_of_one_series(start_archive: StartArchive, refuse: bool) -> None:
    archive = scu(start_archive(refuse_instance_level_without_series=refuse))
    series_uid, sops = next(iter(layout(STUDY_C).items()))
    assert archive.find_instances(STUDY_C.study_uid, series_uid) == sops


def test_calls_share_one_association_inside_with(start_archive: StartArchive) -> None:
    sim = start_archive()
    with scu(sim) as archive:
        series = archive.find_series(STUDY_A.study_uid)
        found = {s: archive.find_instances(STUDY_A.study_uid, s) for s in series}
    assert found == layout(STUDY_A)
    assert sim.stats.peak_concurrent_associations == 1


def test_move_whole_study(start_archive: StartArchive, cache: FolderCache) -> None:
    sim = start_archive()
    outcome = scu(sim).move(cache.node.ae_title, STUDY_A.study_uid)
    assert outcome == MoveOutcome(completed=6)
    assert cache.instances(STUDY_A.study_uid) == layout(STUDY_A)
    assert cache.instances(STUDY_B.study_uid) == {}
    assert sim.stats.moves == 1
    assert sim.stats.instances_sent == 6


def test_move_one_series(start_archive: StartArchive, cache: FolderCache) -> None:
    series_uid, sops = sorted(layout(STUDY_C).items())[1]
    outcome = scu(start_archive()).move(cache.node.ae_title, STUDY_C.study_uid, [series_uid])
    assert outcome == MoveOutcome(completed=len(sops))
    assert cache.instances(STUDY_C.study_uid) == {series_uid: sops}


def test_move_specific_instances(start_archive: StartArchive, cache: FolderCache) -> None:
    wanted = {series: sorted(sops)[:2] for series, sops in layout(STUDY_C).items()}
    outcome = scu(start_archive()).move(cache.node.ae_title, STUDY_C.study_uid, sop_uids=wanted)
    assert outcome == MoveOutcome(completed=6)
    assert cache.instances(STUDY_C.study_uid) == {s: set(u) for s, u in wanted.items()}


def test_aborted_move_raises_and_leaves_a_partial_study(
    start_archive: StartArchive, cache: FolderCache
) -> None:
    archive = scu(start_archive(abort_after=2))
    with pytest.raises(ArchiveError, match=STUDY_A.study_uid):
        archive.move(cache.node.ae_title, STUDY_A.study_uid)
    held = cache.instances(STUDY_A.study_uid)
    assert sum(len(sops) for sops in held.values()) == 2
    assert held != layout(STUDY_A)


def test_unknown_move_destination(start_archive: StartArchive) -> None:
    sim = start_archive()
    with pytest.raises(ArchiveError) as error:
        scu(sim).move("NOWHERE", STUDY_A.study_uid)
    message = str(error.value)
    assert str(sim.node) in message
    assert STUDY_A.study_uid in message
    assert "0xA801" in message


def test_archive_not_listening_fails_fast() -> None:
    node = DicomNode(ae_title="VNA", host="127.0.0.1", port=free_port())
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=str(node)):
        DicomArchive(node, "PIXL", timeout=1).find_studies(mrn="MRN001", accession_number="A")
    assert time.monotonic() - started < 3


def test_error_messages_never_name_the_patient(start_archive: StartArchive) -> None:
    sim = start_archive()
    sim.stop()  # nobody listening any more
    with pytest.raises(ArchiveError) as error:
        scu(sim, timeout=1).find_studies(mrn="MRN001", accession_number="ACC001")
    assert "MRN001" not in str(error.value)
    assert "ACC001" not in str(error.value)


def test_rejected_association(start_archive: StartArchive) -> None:
    sim = start_archive()
    wrong_title = DicomNode(ae_title="PACS", host=sim.node.host, port=sim.node.port)
    with pytest.raises(ArchiveError, match="rejected"):
        DicomArchive(wrong_title, "PIXL", timeout=2).find_studies(study_uid=STUDY_A.study_uid)


def test_patient_identifiers_never_logged_at_info(
    start_archive: StartArchive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    scu(start_archive()).find_studies(mrn="MRN001", accession_number="ACC001")
    assert caplog.records
    assert "MRN001" not in caplog.text
    assert "ACC001" not in caplog.text


def test_echo(start_archive: StartArchive) -> None:
    scu(start_archive()).echo()


def test_archive_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        node = DicomNode(ae_title="VNA", host="127.0.0.1", port=silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(ArchiveError, match=str(node)):
            DicomArchive(node, "PIXL", timeout=1).find_studies(study_uid=STUDY_A.study_uid)
    assert time.monotonic() - started < 4


def test_held_association_recovers_after_an_error(
    start_archive: StartArchive, cache: FolderCache
) -> None:
    with scu(start_archive()) as archive:
        with pytest.raises(ArchiveError):
            archive.move("NOWHERE", STUDY_A.study_uid)
        assert archive.move(cache.node.ae_title, STUDY_B.study_uid) == MoveOutcome(completed=2)
