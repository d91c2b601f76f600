"""Real DICOM servers on 127.0.0.1 for the DICOM tests: a simulated archive and the cache."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pixl.dicom.cache import FolderCache
from pixl.dicom.simulated_archive import SimulatedArchive
from pixl.dicom.storage_scp import StorageSCP
from pixl.settings import DicomNode
from pixl.synthetic import StudySpec, make_study, write_study

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


@pytest.fixture(scope="session")
def archive_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for spec in STUDIES:
        write_study(spec, folder / spec.study_uid)
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[FolderCache]:
    """The built-in raw cache: a StorageSCP writing into a FolderCache's folder."""
    node = DicomNode(ae_title="PIXLCACHE", host="127.0.0.1", port=free_port())
    scp = StorageSCP(tmp_path / "cache", node)
    scp.start()
    yield FolderCache(tmp_path / "cache", node)
    scp.stop()


@pytest.fixture
def start_archive(
    archive_folder: Path, cache: FolderCache
) -> Iterator[Callable[..., SimulatedArchive]]:
    """Start a simulated archive (options as keywords) that can C-MOVE to `cache`."""
    started: list[SimulatedArchive] = []

    def _start(**options: Any) -> SimulatedArchive:
        node = DicomNode(ae_title="VNA", host="127.0.0.1", port=free_port())
        destinations = {cache.node.ae_title: (cache.node.host, cache.node.port)}
        archive = SimulatedArchive(archive_folder, node, destinations, **options)
        archive.start()
        started.append(archive)
        return archive

    yield _start
    for archive in started:
        archive.stop()
