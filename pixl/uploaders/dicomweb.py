"""The DICOMweb destination: STOW-RS of each study's instances (DICOM PS3.18 10.5).

Before sending, QIDO-RS (PS3.18 10.6) asks which instances of the study the server already
holds, and only the missing ones are stored: a retried upload sends no duplicates, and a
study the server holds whole is not sent at all. HTTP basic authentication.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import requests

from pixl.errors import UploadError
from pixl.uploaders.base import credentials_hint, destination_secret, read_secrets
from pixl.uploaders.http import HttpTarget

log = logging.getLogger(__name__)

SECRET_FIELDS = ("url", "username", "password")
_SOP_INSTANCE_UID = "00080018"
_FAILED_SOP_SEQUENCE = "00081198"
_DICOM_JSON = "application/dicom+json"


class DicomWebUploader:
    """Stores each study's missing instances on a DICOMweb server with STOW-RS."""

    name = "dicomweb"

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        verify: bool | str = True,
        credentials_hint: str = "the DICOMweb username and password",
        url_hint: str = "the DICOMweb URL",
        timeout: float = 60.0,
        batch_bytes: int = 32 << 20,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.batch_bytes = batch_bytes
        session = requests.Session()
        session.auth = (username, password)
        session.verify = verify
        self._http = HttpTarget(
            session, f"DICOMweb server {self.url}", credentials_hint, url_hint, timeout
        )

    def __repr__(self) -> str:
        return f"DicomWebUploader({self.username}@{self.url})"

    def stored_instances(self, study_uid: str) -> set[str]:
        """SOP Instance UIDs of the study the server holds (empty if it has no such study)."""
        query = {"StudyInstanceUID": study_uid}
        studies = self._search(f"{self.url}/studies", query)
        if not studies:
            return set()
        instances = self._search(f"{self.url}/studies/{study_uid}/instances", {})
        return {str(item[_SOP_INSTANCE_UID]["Value"][0]) for item in instances}

    def _search(self, url: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """A QIDO-RS search: the matches as DICOM JSON (204 and 404 mean none)."""
        response = self._http.request(
            "GET", url, ok=(200, 204, 404), params=query, headers={"Accept": _DICOM_JSON}
        )
        if response.status_code != 200 or not response.content:
            return []
        matches: list[dict[str, Any]] = response.json()
        return matches

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        """Whether the server holds the study (its completeness is checked on upload)."""
        return bool(self.stored_instances(pseudo_study_uid))

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        where = f"{self.url}/studies/{pseudo_study_uid}"
        by_uid = _instances(files, pseudo_study_uid)
        missing = sorted(set(by_uid) - self.stored_instances(pseudo_study_uid))
        if not missing:
            log.info(
                "upload skipped project=%s study=%s: already there", project_slug, pseudo_study_uid
            )
            return where
        for batch in _batches([by_uid[uid] for uid in missing], self.batch_bytes):
            self._store(batch)
        log.info(
            "uploaded project=%s study=%s instances=%d of %d",
            project_slug,
            pseudo_study_uid,
            len(missing),
            len(by_uid),
        )
        return where

    def _store(self, files: list[Path]) -> None:
        """One STOW-RS request; a response listing failed instances is an error too."""
        boundary = f"pixl-{uuid.uuid4().hex}"
        response = self._http.request(
            "POST",
            f"{self.url}/studies",
            ok=(200, 202),
            data=_multipart(files, boundary),
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": _DICOM_JSON,
            },
        )
        failed = _failed_count(response)
        if failed or response.status_code == 202:
            raise UploadError(
                f"DICOMweb server {self.url} did not store {failed or 'some'} of {len(files)} "
                f"instances (HTTP {response.status_code}, FailedSOPSequence). Check the "
                "server's log for the reason; the upload will be retried for those instances."
            )


def _instances(files: list[Path], study_uid: str) -> dict[str, Path]:
    """SOP Instance UID -> file; every file must belong to `study_uid`."""
    by_uid: dict[str, Path] = {}
    for path in files:
        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["SOPInstanceUID", "StudyInstanceUID"]
        )
        if str(ds.StudyInstanceUID) != study_uid:
            raise UploadError(
                f"{path.name} belongs to study {ds.StudyInstanceUID}, not {study_uid}: "
                "the staging folder mixes studies. Re-run the de-identification.",
                permanent=True,
            )
        by_uid[str(ds.SOPInstanceUID)] = path
    return by_uid


def _batches(files: list[Path], limit: int) -> Iterator[list[Path]]:
    """Consecutive groups of files of at most `limit` bytes (or one file, if larger)."""
    batch: list[Path] = []
    size = 0
    for path in files:
        length = path.stat().st_size
        if batch and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def _multipart(files: list[Path], boundary: str) -> bytes:
    """A multipart/related body, one `application/dicom` part per file (PS3.18 8.6.1.2)."""
    parts = []
    for path in files:
        parts.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        parts.append(path.read_bytes())
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def _failed_count(response: requests.Response) -> int:
    if not response.content:
        return 0
    try:
        body = response.json()
    except ValueError:
        return 0
    failed = body.get(_FAILED_SOP_SEQUENCE, {}) if isinstance(body, dict) else {}
    return len(failed.get("Value", []))


def dicomweb_from_secrets(
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    *,
    verify: bool | str = True,
    timeout: float = 60.0,
) -> DicomWebUploader:
    """An uploader from secrets `<alias>--dicomweb--{url,username,password}`; the URL is the
    DICOMweb root, e.g. `https://pacs.example/dicom-web`."""
    values = read_secrets(alias_or_slug, "dicomweb", SECRET_FIELDS, get_secret)
    return DicomWebUploader(
        values["url"],
        values["username"],
        values["password"],
        verify=verify,
        credentials_hint=credentials_hint(alias_or_slug, "dicomweb"),
        url_hint=f"secret '{destination_secret(alias_or_slug, 'dicomweb', 'url')}'",
        timeout=timeout,
    )
