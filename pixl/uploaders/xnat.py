"""The XNAT destination: each study imported as a DICOM zip by XNAT's session import service.

Project = the project's name (an XNAT project ID), subject = the pseudonymised patient ID
(read from the files), session = the pseudonymised study UID. `destination` is `/archive`
or `/prearchive`; `overwrite` is XNAT's: `none` refuses an existing session, `append` adds
to it, `delete` replaces it. A session already at the destination is not sent again
unless `overwrite` asks for it.

Logs in (JSESSION) and out with the `xnat` package (xnatpy), without building its data
model (`no_parse_model`): that downloads every XSD of the server at each connection. The zip
is POSTed on the logged-in session to `/data/services/import` with the query that
`session.services.import_` sends (project, subject, session, dest, overwrite,
import-handler=DICOM-zip); `services.import_` itself is not called because it then wraps
the new session in a model object, which needs that model, and it hides the response of a
refused import.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom
import requests
import xnat
from xnat.exceptions import XNATError, XNATLoginFailedError

from pixl.errors import ConfigError, UploadError
from pixl.uploaders.base import credentials_hint, read_secrets, zip_study

if TYPE_CHECKING:
    from pixl.anon.config import XnatDestinationOptions

log = logging.getLogger(__name__)

SECRET_FIELDS = ("host", "port", "username", "password")
DESTINATION_ENV = "XNAT_DESTINATION"
OVERWRITE_ENV = "XNAT_OVERWRITE"
DESTINATIONS = ("/archive", "/prearchive")
OVERWRITES = ("none", "append", "delete")
IMPORT_HANDLER = "DICOM-zip"


class XnatUploader:
    """Imports each study into an XNAT project as one session."""

    name = "xnat"

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        project_id: str,
        *,
        destination: str = "/archive",
        overwrite: str = "none",
        credentials_hint: str = "the XNAT username and password",
        timeout: float = 300.0,
    ) -> None:
        if destination not in DESTINATIONS:
            raise ConfigError(
                "xnat", "destination", f"'{destination}' is not one of {DESTINATIONS}"
            )
        if overwrite not in OVERWRITES:
            raise ConfigError("xnat", "overwrite", f"'{overwrite}' is not one of {OVERWRITES}")
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self.project_id = project_id
        self.destination = destination
        self.overwrite = overwrite
        self.credentials_hint = credentials_hint
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"XnatUploader({self.username}@{self.url}, project={self.project_id})"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A logged-in xnatpy session, logged out after; errors become UploadError."""
        server = f"XNAT server {self.url}"
        try:
            session = xnat.connect(
                self.url,
                user=self.username,
                password=self._password,
                no_parse_model=True,
                logger=logging.getLogger(f"{__name__}.xnatpy"),
                default_timeout=self.timeout,
                pilot_timeout=min(self.timeout, 30.0),
            )
        except XNATLoginFailedError:
            raise UploadError(
                f"{server} refused the login of user '{self.username}'. "
                f"Check {self.credentials_hint}; the upload will be retried."
            ) from None
        except requests.exceptions.SSLError as error:
            raise UploadError(
                f"{server}: TLS failed ({error}). If its certificate is not trusted, add its CA "
                "to REQUESTS_CA_BUNDLE."
            ) from None
        except (requests.RequestException, XNATError) as error:
            raise UploadError(f"{server}: {error}; the upload will be retried.") from None
        try:
            yield session
        except requests.RequestException as error:
            raise UploadError(f"{server}: {error}; the upload will be retried.") from None
        finally:
            session.disconnect()

    def _session_exists(self, session: Any, label: str) -> bool:
        """Whether the project has a session `label`, in the archive or the prearchive."""
        uri = f"/data/projects/{self.project_id}/experiments/{label}"
        if session.get(uri, format="json", accepted_status=[200, 404]).status_code == 200:
            return True
        if self.destination != "/prearchive":
            return False
        listing = session.get_json(f"/data/prearchive/projects/{self.project_id}")
        rows = listing["ResultSet"]["Result"]
        return any(row.get("name") == label for row in rows)

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        with self.connect() as session:
            return self._session_exists(session, pseudo_study_uid)

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        subject = _patient_id(files)
        where = f"{self.url}/data/projects/{self.project_id}/experiments/{pseudo_study_uid}"
        with self.connect() as session:
            if self.overwrite == "none" and self._session_exists(session, pseudo_study_uid):
                log.info(
                    "upload skipped project=%s study=%s: already there",
                    project_slug,
                    pseudo_study_uid,
                )
                return where
            zip_path = zip_study(files, pseudo_study_uid)
            try:
                self.import_zip(session, zip_path, subject, pseudo_study_uid)
            finally:
                zip_path.unlink(missing_ok=True)
        log.info(
            "uploaded project=%s study=%s to XNAT %s",
            project_slug,
            pseudo_study_uid,
            self.destination,
        )
        return where

    def import_zip(self, session: Any, zip_path: Path, subject: str, label: str) -> str:
        """Import one DICOM zip as session `label` of `subject`; returns XNAT's URI for it."""
        query = {
            "project": self.project_id,
            "subject": subject,
            "session": label,
            "dest": self.destination,
            "overwrite": self.overwrite,
            "import-handler": IMPORT_HANDLER,
        }
        with zip_path.open("rb") as data:
            response = session.interface.post(
                f"{self.url}/data/services/import",
                params=query,
                data=data,
                headers={"Content-Type": "application/zip"},
                timeout=self.timeout,
            )
        if response.status_code == 200:
            return str(response.text).strip()
        raise self._import_error(response, label)

    def _import_error(self, response: requests.Response, label: str) -> UploadError:
        status = response.status_code
        text = " ".join(response.text.split())[:300]
        server = f"XNAT server {self.url}"
        if status == 409 or "already exists" in text.lower():
            return UploadError(
                f"{server} refused to import session {label} into project {self.project_id}: "
                f"it already exists and overwrite is '{self.overwrite}' (HTTP {status}: {text}). "
                "To replace or extend it, set xnat_destination_options.overwrite to 'delete' or "
                "'append' in the project config.",
                permanent=True,
            )
        if status in (401, 403):
            hint = f"Check {self.credentials_hint} and the user's rights on {self.project_id}."
        elif status == 404:
            hint = f"Check that project '{self.project_id}' exists on the server."
        else:
            hint = "See the server's log; the upload will be retried."
        return UploadError(
            f"{server}: import of session {label} failed (HTTP {status}: {text}). {hint}"
        )


def _patient_id(files: list[Path]) -> str:
    """The (pseudonymised) PatientID all files share: the XNAT subject."""
    ids = {
        str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"]).PatientID)
        for path in files
    }
    if len(ids) != 1 or not next(iter(ids)):
        raise UploadError(
            f"the study's files carry {len(ids)} different PatientIDs; XNAT needs exactly one "
            "(the pseudonymised patient ID) to name the subject.",
            permanent=True,
        )
    return ids.pop()


def xnat_from_secrets(
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    *,
    project_id: str,
    options: XnatDestinationOptions | None = None,
    timeout: float = 300.0,
) -> XnatUploader:
    """An uploader from secrets `<alias>--xnat--{host,port,username,password}`.

    `host` may carry a scheme (`http://...`); https is the default. Destination and
    overwrite come from the project's `xnat_destination_options`, else from the
    environment variables `XNAT_DESTINATION` and `XNAT_OVERWRITE`, else `/archive`, `none`.
    """
    values = read_secrets(alias_or_slug, "xnat", SECRET_FIELDS, get_secret)
    host = values["host"] if "://" in values["host"] else f"https://{values['host']}"
    if options is not None:
        destination, overwrite = str(options.destination.value), str(options.overwrite.value)
    else:
        destination = os.environ.get(DESTINATION_ENV) or "/archive"
        overwrite = os.environ.get(OVERWRITE_ENV) or "none"
    return XnatUploader(
        f"{host}:{values['port']}",
        values["username"],
        values["password"],
        project_id,
        destination=destination,
        overwrite=overwrite,
        credentials_hint=credentials_hint(alias_or_slug, "xnat"),
        timeout=timeout,
    )
