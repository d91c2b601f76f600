"""TreUploader against the TRE airlock API STAND-IN (tre_standin.py), over HTTPS."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from pixl.errors import SecretNotFoundError, UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import TreUploader, make_parquet_uploader, make_uploader, tre_from_secrets
from uploaders.tre_standin import TreState

ALIAS = "proj-alias"
PSEUDO_UID = "2.25.31415926"


def lookup(values: dict[str, str]):  # type: ignore[no-untyped-def]
    def get(name: str) -> str:
        if name not in values:
            raise SecretNotFoundError(f"Secret '{name}' is not set")
        return values[name]

    return get


@pytest.fixture
def tre(tre_standin_server: tuple[str, TreState]) -> TreState:
    state = tre_standin_server[1]
    state.airlock.clear()
    state.storage.clear()
    state.uploads.clear()
    state.flushes = 0
    return state


@pytest.fixture
def uploader(
    tre_standin_server: tuple[str, TreState], tre: TreState, trust_test_ca: Path
) -> TreUploader:
    return tre_from_secrets(
        ALIAS, lookup({f"{ALIAS}--tre--token": tre.token}), api_url=tre_standin_server[0]
    )


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    spec = StudySpec(
        mrn="1", accession_number="RRV00000009", study_uid="1.2.3.4.9", rows=32, columns=32
    )
    return write_study(spec, tmp_path / "study")


def test_study_goes_into_the_airlock_as_one_zip(
    uploader: TreUploader, tre: TreState, files: list[Path]
) -> None:
    location = uploader.upload_study("proj", PSEUDO_UID, files)

    assert location.endswith(f"/airlock/{PSEUDO_UID}.zip")
    with zipfile.ZipFile(io.BytesIO(tre.airlock[f"{PSEUDO_UID}.zip"])) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in files)
    assert tre.requests[-2:] == ["GET /v0/tokens/info", f"POST /v0/airlock/upload/{PSEUDO_UID}.zip"]
    assert tre.flushes == 0


def test_retried_study_replaces_its_file_in_the_airlock(
    uploader: TreUploader, tre: TreState, files: list[Path]
) -> None:
    uploader.upload_study("proj", PSEUDO_UID, files)
    uploader.upload_study("proj", PSEUDO_UID, files)

    assert list(tre.airlock) == [f"{PSEUDO_UID}.zip"]


def test_parquet_files_go_up_as_one_zip_then_the_airlock_is_flushed(
    uploader: TreUploader, tre: TreState, files: list[Path], tmp_path: Path
) -> None:
    uploader.upload_study("proj", PSEUDO_UID, files)
    table = tmp_path / "linker.parquet"
    table.write_bytes(b"PAR1 linker")

    uploader.upload_parquet("proj", "2024-01-02t03-04-05", [(table, "radiology/radiology.parquet")])

    assert tre.flushes == 1
    assert tre.airlock == {}
    name = "proj--2024-01-02t03-04-05--parquet.zip"
    assert set(tre.storage) == {f"{PSEUDO_UID}.zip", name}
    with zipfile.ZipFile(io.BytesIO(tre.storage[name])) as archive:
        assert archive.namelist() == [
            "proj/2024-01-02t03-04-05/parquet/radiology/radiology.parquet"
        ]
        assert archive.read(archive.namelist()[0]) == b"PAR1 linker"


def test_wrong_token_is_a_retryable_error_naming_the_secret(
    tre_standin_server: tuple[str, TreState], tre: TreState, files: list[Path], trust_test_ca: Path
) -> None:
    wrong = "expired-token-xyz"
    uploader = tre_from_secrets(
        ALIAS, lookup({f"{ALIAS}--tre--token": wrong}), api_url=tre_standin_server[0]
    )

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("proj", PSEUDO_UID, files)

    message = str(caught.value)
    assert f"'{ALIAS}--tre--token'" in message
    assert wrong not in message and tre.token not in message
    assert not caught.value.permanent
    assert tre.uploads == []


def test_pixl_token_name_is_accepted_and_the_url_read_from_the_environment(
    tre_standin_server: tuple[str, TreState],
    tre: TreState,
    files: list[Path],
    trust_test_ca: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PIXL_TRE_API_URL", tre_standin_server[0])
    get_secret = lookup({f"{ALIAS}--ftp--token": tre.token})

    uploader = make_uploader("tre", ALIAS, get_secret, tmp_path)
    parquet = make_parquet_uploader("tre", ALIAS, get_secret, tmp_path)

    assert isinstance(uploader, TreUploader) and isinstance(parquet, TreUploader)
    uploader.upload_study("proj", PSEUDO_UID, files)
    assert f"{PSEUDO_UID}.zip" in tre.airlock


def test_missing_token_names_both_secret_names(tmp_path: Path) -> None:
    with pytest.raises(SecretNotFoundError, match=f"{ALIAS}--tre--token.*{ALIAS}--ftp--token"):
        make_uploader("tre", ALIAS, lookup({}), tmp_path)


def test_untrusted_certificate_is_refused(
    tre_standin_server: tuple[str, TreState], tre: TreState, files: list[Path]
) -> None:
    uploader = TreUploader(tre_standin_server[0], tre.token)

    with pytest.raises(UploadError, match="REQUESTS_CA_BUNDLE"):
        uploader.upload_study("proj", PSEUDO_UID, files)
