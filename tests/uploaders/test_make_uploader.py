"""make_uploader: one implementation per destination name, chosen from a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixl.errors import ConfigError, SecretNotFoundError
from pixl.uploaders import FolderUploader, NoneUploader, make_parquet_uploader, make_uploader


def no_secrets(name: str) -> str:
    raise SecretNotFoundError(f"Secret '{name}' is not set")


def test_none_destination_does_nothing(tmp_path: Path) -> None:
    uploader = make_uploader("none", "proj", no_secrets, tmp_path)

    assert isinstance(uploader, NoneUploader)
    assert uploader.upload_study("proj", "2.25.1", [tmp_path / "x.dcm"]) == "none"
    assert not uploader.study_exists("proj", "2.25.1")
    assert list(tmp_path.iterdir()) == []


def test_folder_destination_writes_under_the_output_dir(tmp_path: Path) -> None:
    uploader = make_uploader("folder", "proj", no_secrets, tmp_path)

    assert isinstance(uploader, FolderUploader)
    assert uploader.root == tmp_path


def test_ftps_destination_needs_its_secrets(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFoundError, match="proj--ftp--host"):
        make_uploader("ftps", "proj", no_secrets, tmp_path)


@pytest.mark.parametrize(
    ("destination", "secret"),
    [
        ("sftp", "proj--sftp--host"),
        ("dicomweb", "proj--dicomweb--url"),
        ("tre", "proj--tre--token"),
    ],
)
def test_each_destination_needs_its_secrets(tmp_path: Path, destination: str, secret: str) -> None:
    with pytest.raises(SecretNotFoundError, match=secret):
        make_uploader(destination, "proj", no_secrets, tmp_path)


def test_unknown_destination_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_uploader("s3", "proj", no_secrets, tmp_path)

    assert (caught.value.source, caught.value.field) == ("destination", "dicom")
    assert "'s3' is not a dicom destination" in caught.value.problem
    assert "dicomweb, folder, ftps, none, sftp, tre, xnat" in caught.value.problem


def test_dicom_only_destinations_cannot_take_parquet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        make_parquet_uploader("dicomweb", "proj", no_secrets, tmp_path)

    assert caught.value.field == "parquet"
    assert "folder, ftps, none, sftp, tre" in caught.value.problem


def test_none_and_folder_take_parquet(tmp_path: Path) -> None:
    table = tmp_path / "t.parquet"
    table.write_bytes(b"PAR1")

    assert (
        make_parquet_uploader("none", "proj", no_secrets, tmp_path).upload_parquet(
            "proj", "2024-01-01t00-00-00", [(table, "omop/public/T.parquet")]
        )
        == "none"
    )
    folder = make_parquet_uploader("folder", "proj", no_secrets, tmp_path / "out")
    folder.upload_parquet("proj", "2024-01-01t00-00-00", [(table, "omop/public/T.parquet")])

    delivered = tmp_path / "out/proj/2024-01-01t00-00-00/parquet/omop/public/T.parquet"
    assert delivered.read_bytes() == b"PAR1"
    with pytest.raises(ValueError, match="inside the extract"):
        folder.upload_parquet("proj", "2024-01-01t00-00-00", [(table, "../escape.parquet")])
