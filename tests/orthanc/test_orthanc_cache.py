"""OrthancCache: the RawCache interface over a real Orthanc's REST API."""

from __future__ import annotations

import pytest
from orthanc_helpers import STUDY_A, STUDY_B, layout, part10, upload

from pixl.dicom.cache import RawCache
from pixl.dicom.orthanc import OrthancCache, OrthancProcess
from pixl.errors import ArchiveError
from pixl.local_stack import free_port
from pixl.settings import DicomNode


def test_is_a_raw_cache(cache: OrthancCache) -> None:
    assert isinstance(cache, RawCache)


def test_instances_by_series(cache: OrthancCache, raw_cache_server: OrthancProcess) -> None:
    upload(raw_cache_server, STUDY_A, STUDY_B)
    assert cache.instances(STUDY_A.study_uid) == layout(STUDY_A)
    assert cache.instances(STUDY_B.study_uid) == layout(STUDY_B)


def test_unknown_study_has_no_instances(cache: OrthancCache) -> None:
    assert cache.instances("1.2.3.4") == {}
    assert list(cache.read_instances("1.2.3.4")) == []


def test_read_instances_gives_the_files_as_stored(
    cache: OrthancCache, raw_cache_server: OrthancProcess
) -> None:
    upload(raw_cache_server, STUDY_A)
    assert dict(cache.read_instances(STUDY_A.study_uid)) == part10(STUDY_A)


def test_delete_study(cache: OrthancCache, raw_cache_server: OrthancProcess) -> None:
    upload(raw_cache_server, STUDY_A, STUDY_B)
    cache.delete_study(STUDY_A.study_uid)
    assert cache.instances(STUDY_A.study_uid) == {}
    assert cache.instances(STUDY_B.study_uid) == layout(STUDY_B)
    cache.delete_study(STUDY_A.study_uid)  # already gone: no error


def test_malformed_uid_is_refused(cache: OrthancCache) -> None:
    with pytest.raises(ValueError):
        cache.instances("1.2.3/../../system")


def test_wrong_password(raw_cache_server: OrthancProcess) -> None:
    cache = OrthancCache(raw_cache_server.url, raw_cache_server.node, "pixl", "wrong", timeout=5)
    with pytest.raises(ArchiveError, match=r"HTTP 401.*password") as error:
        cache.instances(STUDY_A.study_uid)
    assert raw_cache_server.url in str(error.value)


def test_unreachable_server_names_the_url_never_the_patient() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    cache = OrthancCache(url, DicomNode(ae_title="PIXLCACHE", port=4242), timeout=2)
    with pytest.raises(ArchiveError, match=url) as error:
        cache.instances(STUDY_A.study_uid)
    for identifier in (STUDY_A.mrn, STUDY_A.accession_number, STUDY_A.patient_name):
        assert identifier not in str(error.value)
