"""DicomWebUploader against a real Orthanc with its DICOMweb plugin (see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
import requests

from pixl.errors import UploadError
from pixl.synthetic import StudySpec, write_study
from pixl.uploaders import DicomWebUploader, dicomweb_from_secrets, make_uploader
from uploaders.conftest import OrthancServer

ALIAS = "proj-alias"


def secrets(server: OrthancServer, password: str | None = None) -> Callable[[str], str]:
    return {
        f"{ALIAS}--dicomweb--url": server.dicomweb_url,
        f"{ALIAS}--dicomweb--username": server.username,
        f"{ALIAS}--dicomweb--password": password or server.password,
    }.__getitem__


def rest(server: OrthancServer, path: str) -> requests.Response:
    response = requests.get(server.url + path, auth=(server.username, server.password), timeout=10)
    response.raise_for_status()
    return response


def study_files(tmp_path: Path, name: str, seed: int) -> tuple[str, list[Path]]:
    uid = f"2.25.{seed}{seed}{seed}1"
    spec = StudySpec(
        mrn="PSEUDO-PATIENT",
        accession_number=f"ACC{seed:06d}",
        study_uid=uid,
        seed=seed,
        rows=32,
        columns=32,
    )
    return uid, write_study(spec, tmp_path / name)


def stored_instances(server: OrthancServer, study_uid: str) -> dict[str, str]:
    """SOP Instance UID -> Orthanc ID of every instance Orthanc holds for the study."""
    found = requests.post(
        f"{server.url}/tools/find",
        json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True},
        auth=(server.username, server.password),
        timeout=10,
    ).json()
    return {item["MainDicomTags"]["SOPInstanceUID"]: item["ID"] for item in found}


@pytest.fixture
def uploader(orthanc_dicomweb: OrthancServer) -> DicomWebUploader:
    return dicomweb_from_secrets(ALIAS, secrets(orthanc_dicomweb))


def test_study_is_stored_and_reads_back_byte_for_byte(
    uploader: DicomWebUploader, orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    uid, files = study_files(tmp_path, "study", 1)
    assert not uploader.study_exists("proj", uid)

    location = uploader.upload_study("proj", uid, files)

    assert location == f"{orthanc_dicomweb.dicomweb_url}/studies/{uid}"
    stored = stored_instances(orthanc_dicomweb, uid)
    assert len(stored) == len(files)
    for path in files:
        sop_uid = str(pydicom.dcmread(path).SOPInstanceUID)
        read_back = rest(orthanc_dicomweb, f"/instances/{stored[sop_uid]}/file").content
        assert pydicom.dcmread(BytesIO(read_back)).PixelData == pydicom.dcmread(path).PixelData
        assert read_back == path.read_bytes()
    assert uploader.study_exists("proj", uid)


def test_delivered_study_is_not_sent_again(
    uploader: DicomWebUploader, orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    uid, files = study_files(tmp_path, "study", 2)
    uploader.upload_study("proj", uid, files)
    received = rest(orthanc_dicomweb, "/statistics").json()["TotalDiskSize"]

    uploader.upload_study("proj", uid, files)

    assert rest(orthanc_dicomweb, "/statistics").json()["TotalDiskSize"] == received
    assert len(stored_instances(orthanc_dicomweb, uid)) == len(files)


def test_half_delivered_study_gets_only_its_missing_instances(
    orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    uid, files = study_files(tmp_path, "study", 3)
    tiny_batches = DicomWebUploader(
        orthanc_dicomweb.dicomweb_url,
        orthanc_dicomweb.username,
        orthanc_dicomweb.password,
        batch_bytes=1,
    )
    tiny_batches.upload_study("proj", uid, files[:2])  # as if cut after two requests
    first_two = stored_instances(orthanc_dicomweb, uid)

    tiny_batches.upload_study("proj", uid, files)

    after = stored_instances(orthanc_dicomweb, uid)
    assert len(after) == len(files)
    assert {uid_: after[uid_] for uid_ in first_two} == first_two
    changes = rest(orthanc_dicomweb, "/changes?limit=1000").json()["Changes"]
    new_instances = [c for c in changes if c["ChangeType"] == "NewInstance"]
    assert sum(c["ID"] in after.values() for c in new_instances) == len(files)


def test_wrong_password_is_a_retryable_error_naming_the_secrets(
    orthanc_dicomweb: OrthancServer, tmp_path: Path
) -> None:
    uid, files = study_files(tmp_path, "study", 4)
    wrong = "not-the-Password-789"
    uploader = dicomweb_from_secrets(ALIAS, secrets(orthanc_dicomweb, password=wrong))

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("proj", uid, files)

    message = str(caught.value)
    assert "401" in message
    assert f"'{ALIAS}--dicomweb--password'" in message
    assert wrong not in message
    assert orthanc_dicomweb.password not in message
    assert not caught.value.permanent


def test_wrong_url_names_the_url_secret(orthanc_dicomweb: OrthancServer, tmp_path: Path) -> None:
    uid, files = study_files(tmp_path, "study", 5)
    values = {
        f"{ALIAS}--dicomweb--url": f"{orthanc_dicomweb.url}/not-dicom-web",
        f"{ALIAS}--dicomweb--username": orthanc_dicomweb.username,
        f"{ALIAS}--dicomweb--password": orthanc_dicomweb.password,
    }
    uploader = dicomweb_from_secrets(ALIAS, values.__getitem__)

    with pytest.raises(UploadError, match=f"HTTP 404.*'{ALIAS}--dicomweb--url'"):
        uploader.upload_study("proj", uid, files)


def test_files_of_another_study_are_refused_before_sending(
    uploader: DicomWebUploader, tmp_path: Path
) -> None:
    _, files = study_files(tmp_path, "study", 6)

    with pytest.raises(UploadError) as caught:
        uploader.upload_study("proj", "2.25.999", files)

    assert caught.value.permanent
    assert "not 2.25.999" in str(caught.value)


def test_make_uploader_builds_dicomweb(orthanc_dicomweb: OrthancServer, tmp_path: Path) -> None:
    uploader = make_uploader("dicomweb", ALIAS, secrets(orthanc_dicomweb), tmp_path)

    assert isinstance(uploader, DicomWebUploader)
    assert uploader.url == orthanc_dicomweb.dicomweb_url
    assert orthanc_dicomweb.password not in repr(uploader)
