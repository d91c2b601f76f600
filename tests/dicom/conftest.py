"""Real DICOM servers on 127.0.0.1 for the DICOM tests: a simulated archive and the cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dicom_helpers import STUDIES, free_port

from pixl.dicom.cache import FolderCache
from pixl.dicom.simulated_archive import SimulatedArchive
from pixl.dicom.storage_scp import StorageSCP
from pixl.settings import DicomNode
from pixl.synthetic import write_study


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
