"""make_uploader: one implementation per destination name, chosen from a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixl.errors import ConfigError, SecretNotFoundError
from pixl.uploaders import FolderUploader, NoneUploader, make_uploader


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


@pytest.mark.parametrize(("destination", "problem"), [("xnat", "not implemented"), ("s3", "not a")])
def test_unknown_destination_is_a_config_error(
    tmp_path: Path, destination: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_uploader(destination, "proj", no_secrets, tmp_path)

    assert (caught.value.source, caught.value.field) == ("destination", "dicom")
    assert problem in caught.value.problem
    assert "folder, ftps, none" in caught.value.problem
