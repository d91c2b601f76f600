"""FolderUploader: atomic, idempotent copies under `<root>/<slug>/<pseudo_study_uid>/`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixl.errors import UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import FolderUploader

SLUG = "my-project"
PSEUDO_UID = "2.25.987654321"


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    spec = StudySpec(mrn="12345678", accession_number="RRV00000001", study_uid="1.2.3.4.5")
    return write_study(spec, tmp_path / "study")


def test_study_is_copied_into_its_own_folder(tmp_path: Path, files: list[Path]) -> None:
    uploader = FolderUploader(tmp_path / "out")
    assert not uploader.study_exists(SLUG, PSEUDO_UID)

    location = uploader.upload_study(SLUG, PSEUDO_UID, files)

    final = tmp_path / "out" / SLUG / PSEUDO_UID
    assert location == str(final)
    assert sorted(p.name for p in final.iterdir()) == sorted(p.name for p in files)
    for path in files:
        assert (final / path.name).read_bytes() == path.read_bytes()
    assert [p.name for p in final.parent.iterdir()] == [PSEUDO_UID]
    assert uploader.study_exists(SLUG, PSEUDO_UID)


def test_existing_study_folder_is_left_alone(tmp_path: Path, files: list[Path]) -> None:
    uploader = FolderUploader(tmp_path / "out")
    uploader.upload_study(SLUG, PSEUDO_UID, files[:1])

    uploader.upload_study(SLUG, PSEUDO_UID, files)

    assert len(list((tmp_path / "out" / SLUG / PSEUDO_UID).iterdir())) == 1


def test_leftover_partial_folder_is_replaced(tmp_path: Path, files: list[Path]) -> None:
    partial = tmp_path / "out" / SLUG / f"{PSEUDO_UID}.partial"
    partial.mkdir(parents=True)
    (partial / "stale.dcm").write_bytes(b"half")
    uploader = FolderUploader(tmp_path / "out")
    assert not uploader.study_exists(SLUG, PSEUDO_UID)

    uploader.upload_study(SLUG, PSEUDO_UID, files)

    final = tmp_path / "out" / SLUG / PSEUDO_UID
    assert sorted(p.name for p in final.iterdir()) == sorted(p.name for p in files)
    assert not partial.exists()


def test_unwritable_root_is_a_retryable_upload_error(tmp_path: Path, files: list[Path]) -> None:
    root = tmp_path / "a-file"
    root.write_text("not a folder")

    with pytest.raises(UploadError) as caught:
        FolderUploader(root).upload_study(SLUG, PSEUDO_UID, files)

    assert not caught.value.permanent
