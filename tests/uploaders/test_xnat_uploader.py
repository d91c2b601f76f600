"""XnatUploader against the XNAT STAND-IN (xnat_standin.py): what the import service receives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pixl.anon.config import ProjectConfig
from pixl.errors import ConfigError, UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import XnatUploader, make_uploader, xnat_from_secrets, zip_study
from uploaders.xnat_standin import XnatState

ALIAS = "proj-alias"
PSEUDO_PATIENT = "PSEUDO-PATIENT-1"


def secrets(url: str, state: XnatState, password: str | None = None) -> dict[str, str]:
    scheme_host, port = url.rsplit(":", 1)
    return {
        f"{ALIAS}--xnat--host": scheme_host,
        f"{ALIAS}--xnat--port": port,
        f"{ALIAS}--xnat--username": state.username,
        f"{ALIAS}--xnat--password": password or state.password,
    }


def project_config(name: str, **xnat_options: str) -> ProjectConfig:
    data: dict[str, Any] = {
        "project": {"name": name, "modalities": ["CT"]},
        "tag_operation_files": {"base": ["base.yaml"]},
        "destination": {"dicom": "xnat", "parquet": "none"},
    }
    if xnat_options:
        data["xnat_destination_options"] = xnat_options
    return ProjectConfig.model_validate(data)


@pytest.fixture
def xnat_server(
    xnat_standin_server: tuple[str, XnatState], trust_test_ca: Path, request: pytest.FixtureRequest
) -> tuple[str, XnatState, str]:
    """The stand-in, its state, and an XNAT project ID of this test's own."""
    url, state = xnat_standin_server
    project = str(request.node.name).replace("_", "-")[:60].upper()
    state.projects.add(project)
    return url, state, project


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    spec = StudySpec(
        mrn=PSEUDO_PATIENT, accession_number="ACC1", study_uid="2.25.7001", rows=32, columns=32
    )
    return write_study(spec, tmp_path / "study")


def uploader_for(xnat_server: tuple[str, XnatState, str], **options: str) -> XnatUploader:
    url, state, project = xnat_server
    config = project_config(project, **options)
    made = make_uploader(
        "xnat", ALIAS, secrets(url, state).__getitem__, Path("unused"), project=config
    )
    assert isinstance(made, XnatUploader)
    return made


def test_study_is_imported_as_a_dicom_zip_named_by_pseudonyms(
    xnat_server: tuple[str, XnatState, str], files: list[Path]
) -> None:
    _, state, project = xnat_server
    uploader = uploader_for(xnat_server)
    assert not uploader.study_exists("slug", "2.25.7001")

    location = uploader.upload_study("slug", "2.25.7001", files)

    received = [i for i in state.imports if i.query.get("project") == project]
    assert len(received) == 1
    assert received[0].query == {
        "project": project,
        "subject": PSEUDO_PATIENT,
        "session": "2.25.7001",
        "dest": "/archive",
        "overwrite": "none",
        "import-handler": "DICOM-zip",
    }
    assert received[0].content_type == "application/zip"
    assert sorted(received[0].names) == sorted(p.name for p in files)
    assert location.endswith(f"/data/projects/{project}/experiments/2.25.7001")
    assert uploader.study_exists("slug", "2.25.7001")


def test_delivered_session_is_not_sent_again(
    xnat_server: tuple[str, XnatState, str], files: list[Path]
) -> None:
    _, state, project = xnat_server
    uploader = uploader_for(xnat_server)
    uploader.upload_study("slug", "2.25.7001", files)

    uploader.upload_study("slug", "2.25.7001", files)

    assert len([i for i in state.imports if i.query.get("project") == project]) == 1


def test_overwrite_none_on_an_existing_session_is_a_clear_permanent_error(
    xnat_server: tuple[str, XnatState, str], files: list[Path]
) -> None:
    uploader = uploader_for(xnat_server)
    uploader.upload_study("slug", "2.25.7001", files)

    zipped = zip_study(files, "2.25.7001")

    # As if another worker's import landed between our check and our import.
    with uploader.connect() as session, pytest.raises(UploadError) as caught:
        uploader.import_zip(session, zipped, PSEUDO_PATIENT, "2.25.7001")
    zipped.unlink()

    message = str(caught.value)
    assert "already exists" in message and "overwrite is 'none'" in message
    assert "xnat_destination_options.overwrite" in message
    assert caught.value.permanent


def test_options_from_the_project_go_to_the_import_service(
    xnat_server: tuple[str, XnatState, str], files: list[Path]
) -> None:
    _, state, project = xnat_server
    uploader = uploader_for(xnat_server, destination="/prearchive", overwrite="append")
    uploader.upload_study("slug", "2.25.7001", files)

    uploader.upload_study("slug", "2.25.7001", files)  # append: sent again on purpose

    received = [i.query for i in state.imports if i.query.get("project") == project]
    assert [(q["dest"], q["overwrite"]) for q in received] == [("/prearchive", "append")] * 2
    assert uploader.study_exists("slug", "2.25.7001")


def test_options_fall_back_to_the_environment(
    xnat_server: tuple[str, XnatState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state, project = xnat_server
    monkeypatch.setenv("XNAT_DESTINATION", "/prearchive")
    monkeypatch.setenv("XNAT_OVERWRITE", "delete")

    uploader = xnat_from_secrets(ALIAS, secrets(url, state).__getitem__, project_id=project)

    assert (uploader.destination, uploader.overwrite) == ("/prearchive", "delete")


def test_bad_overwrite_in_the_environment_is_a_config_error(
    xnat_server: tuple[str, XnatState, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state, project = xnat_server
    monkeypatch.setenv("XNAT_OVERWRITE", "replace")

    with pytest.raises(ConfigError, match="overwrite"):
        xnat_from_secrets(ALIAS, secrets(url, state).__getitem__, project_id=project)


def test_wrong_password_is_a_retryable_error_naming_the_secrets(
    xnat_server: tuple[str, XnatState, str], files: list[Path]
) -> None:
    url, state, project = xnat_server
    wrong = "not-the-Password-000"
    uploader = xnat_from_secrets(ALIAS, secrets(url, state, wrong).__getitem__, project_id=project)

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("slug", "2.25.7001", files)

    message = str(caught.value)
    assert f"'{ALIAS}--xnat--password'" in message
    assert wrong not in message and state.password not in message
    assert not caught.value.permanent


def test_xnat_needs_the_project_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs the project config"):
        make_uploader("xnat", ALIAS, dict[str, str]().__getitem__, tmp_path)
