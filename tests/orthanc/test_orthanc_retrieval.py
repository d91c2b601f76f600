"""retrieve_into_cache from an Orthanc VNA into an Orthanc raw cache: only what is missing
crosses the network, counted by the cache's own change log (one NewInstance per C-STORE)."""

from __future__ import annotations

import pytest
from orthanc_helpers import (
    PIXL_AE,
    STUDY_A,
    STUDY_B,
    STUDY_C,
    delete_instances,
    last_change,
    layout,
    stored_since,
)

from pixl.dicom.orthanc import OrthancCache, OrthancProcess
from pixl.dicom.scu import DicomArchive
from pixl.retrieval import complete_in_cache, find_study_uids, retrieve_into_cache


@pytest.fixture(scope="module")
def archive(vna: OrthancProcess) -> DicomArchive:
    return DicomArchive(vna.node, calling_ae=PIXL_AE, timeout=10)


def test_whole_studies_by_mrn_and_accession(
    archive: DicomArchive, cache: OrthancCache, raw_cache_server: OrthancProcess
) -> None:
    study_uids = find_study_uids(archive, "", STUDY_A.mrn, STUDY_A.accession_number)
    assert study_uids == sorted([STUDY_A.study_uid, STUDY_B.study_uid])
    since = last_change(raw_cache_server)
    retrieved = retrieve_into_cache(archive, cache, study_uids, [])
    assert (retrieved.n_instances, retrieved.moved) == (14, 14)
    assert stored_since(raw_cache_server, since) == 14
    assert cache.instances(STUDY_A.study_uid) == layout(STUDY_A)
    assert cache.instances(STUDY_B.study_uid) == layout(STUDY_B)
    assert complete_in_cache(cache, {STUDY_A.study_uid: 12, STUDY_B.study_uid: 2})


def test_partial_study_moves_only_the_missing_instances(
    archive: DicomArchive, cache: OrthancCache, raw_cache_server: OrthancProcess
) -> None:
    retrieve_into_cache(archive, cache, [STUDY_A.study_uid], [])
    series = sorted(layout(STUDY_A).items())
    missing = {*sorted(series[0][1])[:3], *sorted(series[2][1])[:1]}
    delete_instances(raw_cache_server, missing)
    assert not complete_in_cache(cache, {STUDY_A.study_uid: 12})

    since = last_change(raw_cache_server)
    retrieved = retrieve_into_cache(archive, cache, [STUDY_A.study_uid], [])
    assert (retrieved.n_instances, retrieved.moved) == (12, len(missing))
    assert stored_since(raw_cache_server, since) == len(missing)
    assert cache.instances(STUDY_A.study_uid) == layout(STUDY_A)


def test_complete_study_moves_nothing(
    archive: DicomArchive, cache: OrthancCache, raw_cache_server: OrthancProcess
) -> None:
    retrieve_into_cache(archive, cache, [STUDY_C.study_uid], [])
    since = last_change(raw_cache_server)
    retrieved = retrieve_into_cache(archive, cache, [STUDY_C.study_uid], [])
    assert (retrieved.n_instances, retrieved.moved) == (10, 0)
    assert stored_since(raw_cache_server, since) == 0


def test_series_job_fetches_only_the_named_series(
    archive: DicomArchive, cache: OrthancCache, raw_cache_server: OrthancProcess
) -> None:
    series_uid, sops = sorted(layout(STUDY_A).items())[1]
    since = last_change(raw_cache_server)
    retrieved = retrieve_into_cache(archive, cache, [STUDY_A.study_uid], [series_uid])
    assert (retrieved.n_instances, retrieved.moved) == (len(sops), len(sops))
    assert stored_since(raw_cache_server, since) == len(sops)
    assert cache.instances(STUDY_A.study_uid) == {series_uid: sops}
