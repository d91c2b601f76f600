"""StorageSCP: C-STORE into the folder layout, byte for byte, atomically."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from dicom_helpers import STUDY_A, free_port
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE

from pixl.dicom.cache import FolderCache
from pixl.dicom.storage_scp import StorageSCP, instance_path
from pixl.settings import DicomNode
from pixl.synthetic import make_study


def store(node: DicomNode, datasets: list[Dataset]) -> list[int]:
    ae = AE(ae_title="TEST")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(ds).Status) for ds in datasets]
    assoc.release()
    return statuses


def test_stores_part10_files_in_study_series_layout(cache: FolderCache) -> None:
    datasets = make_study(STUDY_A)
    assert store(cache.node, datasets) == [0] * len(datasets)
    for ds in datasets:
        path = instance_path(
            cache.root, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
        )
        raw = path.read_bytes()
        assert raw[128:132] == b"DICM"
        stored = dcmread(BytesIO(raw))
        assert stored.SOPInstanceUID == ds.SOPInstanceUID
        assert stored.PixelData == ds.PixelData
        assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert not [p for p in cache.root.rglob("*") if p.name.startswith(".")]


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_malformed_uid_is_refused_and_nothing_written(cache: FolderCache) -> None:
    ds = make_study(STUDY_A)[0]
    ds.StudyInstanceUID = "../../escape"
    assert store(cache.node, [ds]) == [0xC000]
    assert not any(cache.root.rglob("*.dcm"))


def test_stop_then_restart_on_the_same_port(tmp_path: Path) -> None:
    node = DicomNode(ae_title="PIXLCACHE", host="127.0.0.1", port=free_port())
    for _ in range(2):
        scp = StorageSCP(tmp_path, node)
        scp.start()
        assert store(node, make_study(STUDY_A)[:1]) == [0]
        scp.stop()
