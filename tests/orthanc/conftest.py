"""Real Orthanc servers on 127.0.0.1, started once per test run: a VNA seeded with
synthetic studies, and a raw cache running the production configuration
(`orthanc/orthanc-raw.json`) that the VNA can C-MOVE into."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from orthanc_helpers import PIXL_AE, STUDIES, upload

from pixl.dicom.orthanc import OrthancCache, OrthancProcess, load_raw_config

StartOrthanc = Callable[..., OrthancProcess]

#: A stand-in VNA/PACS: answers C-FIND and C-MOVE from pixl's AE only.
ARCHIVE_CONFIG: dict[str, Any] = {
    "DicomAet": "VNA",
    "DicomModalities": {"pixl": [PIXL_AE, "127.0.0.1", 104]},
    "SaveJobs": False,
}

RAW_CACHE_ENV = {"ORTHANC_USERNAME": "pixl", "ORTHANC_PASSWORD": "cache-secret"}


@pytest.fixture(scope="session")
def start_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartOrthanc]:
    """Start an Orthanc from a configuration dict; every one started is stopped (and waited
    for) at the end of the run."""
    started: list[OrthancProcess] = []

    def _start(
        config: Mapping[str, Any], env: Mapping[str, str] | None = None, tcp_nodelay: bool = True
    ) -> OrthancProcess:
        server = OrthancProcess(tmp_path_factory.mktemp("orthanc"), config, env, tcp_nodelay)
        server.start()
        started.append(server)
        return server

    yield _start
    for server in started:
        server.terminate()
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def vna(start_orthanc: StartOrthanc) -> OrthancProcess:
    server = start_orthanc(ARCHIVE_CONFIG)
    upload(server, *STUDIES)
    return server


@pytest.fixture(scope="session")
def raw_cache_server(start_orthanc: StartOrthanc, vna: OrthancProcess) -> OrthancProcess:
    """The production raw cache configuration, ports and storage aside; the VNA knows it as
    a C-MOVE destination."""
    env = {
        **RAW_CACHE_ENV,
        "VNA_AE_TITLE": vna.node.ae_title,
        "VNA_HOST": vna.node.host,
        "VNA_PORT": str(vna.node.port),
        "PACS_AE_TITLE": "PACS",
        "PACS_HOST": "127.0.0.1",
        "PACS_PORT": "104",
    }
    server = start_orthanc(load_raw_config(), env)
    vna.add_modality("pixlcache", server.node)
    return server


@pytest.fixture
def cache(raw_cache_server: OrthancProcess) -> Iterator[OrthancCache]:
    """An `OrthancCache` over the raw cache, emptied before each test."""
    raw_cache_server.empty()
    cache = raw_cache_server.cache(timeout=10)
    yield cache
    cache.close()
