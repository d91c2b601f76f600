"""FTPSUploader against a real FTPS server (see conftest.py): one zip per study, idempotent."""

from __future__ import annotations

import ftplib
import socket
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pixl.errors import UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import FTPSUploader, ftps_from_secrets, make_uploader, zip_study

if TYPE_CHECKING:
    from uploaders.conftest import FTPSServer

ALIAS = "proj-alias"
PSEUDO_UID = "2.25.1234567890"


def secrets(server: FTPSServer, password: str | None = None) -> dict[str, str]:
    return {
        f"{ALIAS}--ftp--host": server.host,
        f"{ALIAS}--ftp--port": str(server.port),
        f"{ALIAS}--ftp--username": server.username,
        f"{ALIAS}--ftp--password": password or server.password,
    }


@pytest.fixture
def uploader(ftps_server: FTPSServer) -> FTPSUploader:
    values = secrets(ftps_server)
    return ftps_from_secrets(ALIAS, values.__getitem__, ssl_context=ftps_server.client_context())


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    spec = StudySpec(mrn="12345678", accession_number="RRV00000001", study_uid="1.2.3.4.5")
    return write_study(spec, tmp_path / "study")


@pytest.fixture
def slug(request: pytest.FixtureRequest) -> str:
    return str(request.node.name).replace("_", "-")


def test_study_is_uploaded_as_one_zip_of_the_same_bytes(
    uploader: FTPSUploader, ftps_server: FTPSServer, files: list[Path], slug: str
) -> None:
    assert not uploader.study_exists(slug, PSEUDO_UID)

    location = uploader.upload_study(slug, PSEUDO_UID, files)

    assert location == f"ftps://{ftps_server.host}:{ftps_server.port}/{slug}/{PSEUDO_UID}.zip"
    assert [p.name for p in (ftps_server.home / slug).iterdir()] == [f"{PSEUDO_UID}.zip"]
    with zipfile.ZipFile(ftps_server.home / slug / f"{PSEUDO_UID}.zip") as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in files)
        for path in files:
            assert archive.read(path.name) == path.read_bytes()
    assert uploader.study_exists(slug, PSEUDO_UID)


def test_second_upload_of_the_same_study_is_skipped(
    uploader: FTPSUploader, ftps_server: FTPSServer, files: list[Path], slug: str
) -> None:
    uploader.upload_study(slug, PSEUDO_UID, files)
    delivered = ftps_server.home / slug / f"{PSEUDO_UID}.zip"
    before = delivered.stat()
    stores = len(ftps_server.stored)

    uploader.upload_study(slug, PSEUDO_UID, files)

    assert len(ftps_server.stored) == stores
    after = delivered.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_leftover_part_file_is_replaced_by_a_complete_upload(
    uploader: FTPSUploader, ftps_server: FTPSServer, files: list[Path], slug: str
) -> None:
    (ftps_server.home / slug).mkdir()
    (ftps_server.home / slug / f"{PSEUDO_UID}.zip.part").write_bytes(b"PK\x03\x04 half")
    assert not uploader.study_exists(slug, PSEUDO_UID)

    uploader.upload_study(slug, PSEUDO_UID, files)

    assert [p.name for p in (ftps_server.home / slug).iterdir()] == [f"{PSEUDO_UID}.zip"]
    with zipfile.ZipFile(ftps_server.home / slug / f"{PSEUDO_UID}.zip") as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == len(files)


def test_a_different_zip_of_the_study_replaces_the_delivered_one(
    uploader: FTPSUploader, ftps_server: FTPSServer, files: list[Path], slug: str
) -> None:
    uploader.upload_study(slug, PSEUDO_UID, files[:2])

    uploader.upload_study(slug, PSEUDO_UID, files)

    with zipfile.ZipFile(ftps_server.home / slug / f"{PSEUDO_UID}.zip") as archive:
        assert len(archive.namelist()) == len(files)


def test_wrong_password_names_the_secrets_not_the_password(
    ftps_server: FTPSServer, files: list[Path], slug: str
) -> None:
    wrong = "not-the-Password-123"
    values = secrets(ftps_server, password=wrong)
    uploader = ftps_from_secrets(
        ALIAS, values.__getitem__, ssl_context=ftps_server.client_context()
    )

    with pytest.raises(UploadError) as caught:
        uploader.upload_study(slug, PSEUDO_UID, files)

    message = str(caught.value)
    assert f"{ALIAS}--ftp--password" in message
    assert f"{ALIAS}--ftp--username" in message
    assert wrong not in message
    assert ftps_server.password not in message
    assert not caught.value.permanent


def test_connection_refused_is_retryable(files: list[Path]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uploader = FTPSUploader("127.0.0.1", port, "user", "password", timeout=5)

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("any", PSEUDO_UID, files)

    assert not caught.value.permanent
    assert "retried" in str(caught.value)


def test_untrusted_server_certificate_is_refused(ftps_server: FTPSServer) -> None:
    uploader = FTPSUploader(
        ftps_server.host, ftps_server.port, ftps_server.username, ftps_server.password
    )

    with pytest.raises(UploadError, match="certificate"):
        uploader.study_exists("any", PSEUDO_UID)


def test_server_refuses_plain_ftp(ftps_server: FTPSServer) -> None:
    with ftplib.FTP() as plain:
        plain.connect(ftps_server.host, ftps_server.port, timeout=5)
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            plain.login(ftps_server.username, ftps_server.password)


def test_make_uploader_builds_ftps_from_the_project_secrets(ftps_server: FTPSServer) -> None:
    uploader = make_uploader("ftps", ALIAS, secrets(ftps_server).__getitem__, Path("unused"))

    assert isinstance(uploader, FTPSUploader)
    assert (uploader.host, uploader.port, uploader.username) == (
        ftps_server.host,
        ftps_server.port,
        ftps_server.username,
    )
    assert ftps_server.password not in repr(uploader)


def test_zip_is_byte_identical_for_the_same_files(files: list[Path]) -> None:
    first, second = zip_study(files, PSEUDO_UID), zip_study(list(reversed(files)), PSEUDO_UID)
    try:
        assert first.read_bytes() == second.read_bytes()
    finally:
        first.unlink()
        second.unlink()
