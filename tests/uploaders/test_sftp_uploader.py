"""SFTPUploader against a real SFTP server (paramiko's server side, see sftp_server.py)."""

from __future__ import annotations

import socket
import zipfile
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from pixl.errors import ConfigError, SecretNotFoundError, UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import SFTPUploader, make_uploader, sftp_from_secrets
from pixl.uploaders.sftp import parse_host_key
from uploaders.sftp_server import SFTPServerState

ALIAS = "proj-alias"
PSEUDO_UID = "2.25.555666777"


def secrets(
    server: SFTPServerState, password: str | None = None, host_key: str | None = None
) -> dict[str, str]:
    values = {
        f"{ALIAS}--sftp--host": server.host,
        f"{ALIAS}--sftp--port": str(server.port),
        f"{ALIAS}--sftp--username": server.username,
        f"{ALIAS}--sftp--password": password or server.password,
        f"{ALIAS}--sftp--known-host-key": host_key or server.host_key_line,
    }
    return values


def lookup(values: dict[str, str]) -> Callable[[str], str]:
    def get(name: str) -> str:
        if name not in values:
            raise SecretNotFoundError(f"Secret '{name}' is not set")
        return values[name]

    return get


@pytest.fixture
def uploader(sftp_server: SFTPServerState) -> SFTPUploader:
    return sftp_from_secrets(ALIAS, lookup(secrets(sftp_server)), allow_unknown_hosts=False)


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    spec = StudySpec(mrn="12345678", accession_number="RRV00000001", study_uid="1.2.3.4.6")
    return write_study(spec, tmp_path / "study")


@pytest.fixture
def slug(request: pytest.FixtureRequest) -> str:
    return str(request.node.name).replace("_", "-")


def test_study_is_uploaded_as_one_zip_of_the_same_bytes(
    uploader: SFTPUploader, sftp_server: SFTPServerState, files: list[Path], slug: str
) -> None:
    assert not uploader.study_exists(slug, PSEUDO_UID)

    location = uploader.upload_study(slug, PSEUDO_UID, files)

    assert location == f"sftp://{sftp_server.host}:{sftp_server.port}/{slug}/{PSEUDO_UID}.zip"
    assert [p.name for p in (sftp_server.root / slug).iterdir()] == [f"{PSEUDO_UID}.zip"]
    with zipfile.ZipFile(sftp_server.root / slug / f"{PSEUDO_UID}.zip") as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in files)
        for path in files:
            assert archive.read(path.name) == path.read_bytes()
    assert uploader.study_exists(slug, PSEUDO_UID)


def test_second_upload_of_the_same_study_is_not_sent(
    uploader: SFTPUploader, sftp_server: SFTPServerState, files: list[Path], slug: str
) -> None:
    uploader.upload_study(slug, PSEUDO_UID, files)
    delivered = (sftp_server.root / slug / f"{PSEUDO_UID}.zip").stat()
    writes = len(sftp_server.written)

    uploader.upload_study(slug, PSEUDO_UID, files)

    assert len(sftp_server.written) == writes
    after = (sftp_server.root / slug / f"{PSEUDO_UID}.zip").stat()
    assert (after.st_ino, after.st_mtime_ns) == (delivered.st_ino, delivered.st_mtime_ns)


def test_upload_cut_mid_transfer_is_retryable_and_the_retry_leaves_one_whole_zip(
    uploader: SFTPUploader, sftp_server: SFTPServerState, files: list[Path], slug: str
) -> None:
    sftp_server.cut_after_bytes = 20_000
    with pytest.raises(UploadError) as caught:
        uploader.upload_study(slug, PSEUDO_UID, files)
    assert not caught.value.permanent
    assert [p.name for p in (sftp_server.root / slug).iterdir()] == [f"{PSEUDO_UID}.zip.part"]
    assert not uploader.study_exists(slug, PSEUDO_UID)

    uploader.upload_study(slug, PSEUDO_UID, files)

    assert [p.name for p in (sftp_server.root / slug).iterdir()] == [f"{PSEUDO_UID}.zip"]
    with zipfile.ZipFile(sftp_server.root / slug / f"{PSEUDO_UID}.zip") as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == len(files)


def test_a_different_zip_of_the_study_replaces_the_delivered_one(
    uploader: SFTPUploader, sftp_server: SFTPServerState, files: list[Path], slug: str
) -> None:
    uploader.upload_study(slug, PSEUDO_UID, files[:2])

    uploader.upload_study(slug, PSEUDO_UID, files)

    with zipfile.ZipFile(sftp_server.root / slug / f"{PSEUDO_UID}.zip") as archive:
        assert len(archive.namelist()) == len(files)


def test_parquet_files_land_under_the_extract_and_replace_earlier_copies(
    uploader: SFTPUploader, sftp_server: SFTPServerState, tmp_path: Path, slug: str
) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    first.write_bytes(b"PAR1 first")
    second.write_bytes(b"PAR1 second")
    files = [(first, "omop/public/A.parquet"), (second, "radiology/radiology.parquet")]

    uploader.upload_parquet(slug, "2024-01-02t03-04-05", files)
    first.write_bytes(b"PAR1 first, re-exported")
    location = uploader.upload_parquet(slug, "2024-01-02t03-04-05", files)

    base = sftp_server.root / slug / "2024-01-02t03-04-05" / "parquet"
    assert location.endswith(f"/{slug}/2024-01-02t03-04-05/parquet")
    assert (base / "omop/public/A.parquet").read_bytes() == b"PAR1 first, re-exported"
    assert (base / "radiology/radiology.parquet").read_bytes() == b"PAR1 second"
    assert sorted(p.name for p in base.rglob("*") if p.is_file()) == [
        "A.parquet",
        "radiology.parquet",
    ]


def test_wrong_password_names_the_secrets_not_the_password(
    sftp_server: SFTPServerState, files: list[Path], slug: str
) -> None:
    wrong = "not-the-Password-456"
    uploader = sftp_from_secrets(ALIAS, lookup(secrets(sftp_server, password=wrong)))

    with pytest.raises(UploadError) as caught:
        uploader.upload_study(slug, PSEUDO_UID, files)

    message = str(caught.value)
    assert f"'{ALIAS}--sftp--password'" in message
    assert f"'{ALIAS}--sftp--username'" in message
    assert wrong not in message
    assert sftp_server.password not in message
    assert not caught.value.permanent
    assert caught.value.__cause__ is None and caught.value.__context__ is not None


def test_unknown_host_key_is_refused_naming_the_secret_and_the_setting(
    sftp_server: SFTPServerState, slug: str
) -> None:
    values = secrets(sftp_server)
    del values[f"{ALIAS}--sftp--known-host-key"]
    uploader = sftp_from_secrets(ALIAS, lookup(values), allow_unknown_hosts=False)

    with pytest.raises(UploadError) as caught:
        uploader.study_exists(slug, PSEUDO_UID)

    message = str(caught.value)
    assert "not known" in message
    assert f"{ALIAS}--sftp--known-host-key" in message
    assert "PIXL_SFTP_ALLOW_UNKNOWN_HOSTS" in message
    assert sftp_server.host_key.fingerprint in message


def test_unknown_host_key_is_accepted_only_when_allowed(
    sftp_server: SFTPServerState, monkeypatch: pytest.MonkeyPatch, slug: str
) -> None:
    values = secrets(sftp_server)
    del values[f"{ALIAS}--sftp--known-host-key"]
    monkeypatch.setenv("PIXL_SFTP_ALLOW_UNKNOWN_HOSTS", "true")

    uploader = sftp_from_secrets(ALIAS, lookup(values))

    assert uploader.allow_unknown_hosts
    assert not uploader.study_exists(slug, PSEUDO_UID)


def test_a_different_host_key_is_a_permanent_error(sftp_server: SFTPServerState, slug: str) -> None:
    other = paramiko.ECDSAKey.generate()
    values = secrets(sftp_server, host_key=f"{other.get_name()} {other.get_base64()}")
    uploader = sftp_from_secrets(ALIAS, lookup(values))

    with pytest.raises(UploadError) as caught:
        uploader.study_exists(slug, PSEUDO_UID)

    assert caught.value.permanent
    assert "re-keyed" in str(caught.value)


def test_host_key_secret_accepts_a_known_hosts_line(sftp_server: SFTPServerState) -> None:
    line = f"[{sftp_server.host}]:{sftp_server.port} {sftp_server.host_key_line}"

    assert parse_host_key(line) == sftp_server.host_key
    with pytest.raises(ValueError, match="key type"):
        parse_host_key("not a key")


def test_malformed_host_key_secret_is_a_config_error(sftp_server: SFTPServerState) -> None:
    values = secrets(sftp_server, host_key="ssh-ed25519 !!!notbase64")

    with pytest.raises(ConfigError, match=f"{ALIAS}--sftp--known-host-key"):
        sftp_from_secrets(ALIAS, lookup(values))


def test_connection_refused_is_retryable(files: list[Path]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uploader = SFTPUploader("127.0.0.1", port, "user", "password", timeout=5)

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("any", PSEUDO_UID, files)

    assert not caught.value.permanent
    assert "retried" in str(caught.value)


def test_make_uploader_builds_sftp_from_the_project_secrets(
    sftp_server: SFTPServerState, tmp_path: Path
) -> None:
    uploader = make_uploader("sftp", ALIAS, lookup(secrets(sftp_server)), tmp_path)

    assert isinstance(uploader, SFTPUploader)
    assert (uploader.host, uploader.port, uploader.username) == (
        sftp_server.host,
        sftp_server.port,
        sftp_server.username,
    )
    assert sftp_server.password not in repr(uploader)
