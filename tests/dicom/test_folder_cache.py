"""FolderCache: what the retrieval code sees of the built-in raw cache."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from dicom_helpers import STUDY_A, layout
from pydicom import dcmread

from pixl.dicom.cache import FolderCache, RawCache
from pixl.dicom.storage_scp import instance_path
from pixl.settings import DicomNode
from pixl.synthetic import make_study

NODE = DicomNode(ae_title="PIXLCACHE", port=11112)


@pytest.fixture
def filled(tmp_path: Path) -> FolderCache:
    for ds in make_study(STUDY_A):
        path = instance_path(tmp_path, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
    return FolderCache(tmp_path, NODE)


def test_is_a_raw_cache(filled: FolderCache) -> None:
    assert isinstance(filled, RawCache)


def test_instances_by_series(filled: FolderCache) -> None:
    assert filled.instances(STUDY_A.study_uid) == layout(STUDY_A)
    assert filled.instances("1.2.3") == {}


def test_temp_files_are_ignored(filled: FolderCache) -> None:
    series = next(iter(layout(STUDY_A)))
    (filled.root / STUDY_A.study_uid / series / ".1.2.3.dcm.abc.tmp").write_bytes(b"partial")
    (filled.root / STUDY_A.study_uid / series / ".1.2.4.dcm").write_bytes(b"partial")
    assert filled.instances(STUDY_A.study_uid) == layout(STUDY_A)


def test_read_instances_yields_part10_bytes(filled: FolderCache) -> None:
    read = dict(filled.read_instances(STUDY_A.study_uid))
    assert set(read) == set().union(*layout(STUDY_A).values())
    for sop_uid, raw in read.items():
        assert dcmread(BytesIO(raw)).SOPInstanceUID == sop_uid


def test_delete_study(filled: FolderCache) -> None:
    filled.delete_study(STUDY_A.study_uid)
    assert filled.instances(STUDY_A.study_uid) == {}
    filled.delete_study(STUDY_A.study_uid)  # idempotent


def test_rejects_paths_that_are_not_uids(filled: FolderCache) -> None:
    with pytest.raises(ValueError):
        filled.delete_study("..")
