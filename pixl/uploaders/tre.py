"""The TRE destination: an HTTPS airlock API as PIXL uses it (UCL ARC TRE, API v0).

Bearer-token calls: `GET /tokens/info` checks the token, `POST /airlock/upload/<file name>`
puts one file in the airlock (201), `PUT /airlock/flush` asks the TRE to scan the airlock
and move its files into the project's storage. Each study goes up as `<pseudo_study_uid>.zip`
and an extract's parquet files as one zip; the airlock is flushed once the parquet files
are in (flushing is slow and expensive on the TRE side, so not after every study).
The airlock cannot be listed: re-sending a file replaces the one of the same name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import requests

from pixl.errors import SecretNotFoundError, UploadError
from pixl.uploaders.base import parquet_path, zip_files, zip_study
from pixl.uploaders.http import HttpTarget

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.tre.arc.ucl.ac.uk/v0"
API_URL_ENV = "PIXL_TRE_API_URL"


def secret_name(alias_or_slug: str) -> str:
    """The name of the TRE token secret, e.g. `myproject--tre--token`."""
    return f"{alias_or_slug}--tre--token"


def pixl_secret_name(alias_or_slug: str) -> str:
    """The name PIXL reads the same token from (`<alias>--ftp--token`), accepted too."""
    return f"{alias_or_slug}--ftp--token"


class TreUploader:
    """Sends study zips and parquet zips into a TRE airlock, then flushes it."""

    name = "tre"

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        verify: bool | str = True,
        token_hint: str = "the TRE API token",
        url_hint: str = API_URL_ENV,
        timeout: float = 300.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.token_hint = token_hint
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        session.verify = verify
        self._http = HttpTarget(session, f"TRE API {self.api_url}", token_hint, url_hint, timeout)

    def __repr__(self) -> str:
        return f"TreUploader({self.api_url})"

    def check_token(self) -> None:
        """Raise an UploadError naming the secret if the TRE does not accept the token."""
        response = self._http.request("GET", f"{self.api_url}/tokens/info", ok=(200, 401, 403))
        if response.status_code != 200:
            raise UploadError(
                f"TRE API {self.api_url} does not accept the token (HTTP "
                f"{response.status_code}): it is wrong or has expired. Renew {self.token_hint}."
            )

    def send(self, path: Path, file_name: str) -> None:
        """Put one file into the airlock under `file_name`."""
        with path.open("rb") as data:
            self._http.request(
                "POST",
                f"{self.api_url}/airlock/upload/{file_name}",
                ok=(200, 201),
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )

    def flush(self) -> None:
        """Ask the TRE to move the airlock's files into the project's storage."""
        self._http.request("PUT", f"{self.api_url}/airlock/flush", ok=(200, 201, 202))
        log.info("flushed TRE airlock %s", self.api_url)

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        """Always False: the airlock API has no listing (the records say what was sent)."""
        return False

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        file_name = f"{pseudo_study_uid}.zip"
        self.check_token()
        zip_path = zip_study(files, pseudo_study_uid)
        try:
            self.send(zip_path, file_name)
        finally:
            zip_path.unlink(missing_ok=True)
        log.info("uploaded project=%s study=%s to the TRE airlock", project_slug, pseudo_study_uid)
        return f"{self.api_url}/airlock/{file_name}"

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        """One zip holding `<slug>/<extract-datetime>/parquet/...`, then a flush."""
        file_name = f"{project_slug}--{extract_datetime_slug}--parquet.zip"
        entries = [
            (path, parquet_path(project_slug, extract_datetime_slug, rel)) for path, rel in files
        ]
        self.check_token()
        zip_path = zip_files(entries, f"{project_slug}-parquet")
        try:
            self.send(zip_path, file_name)
        finally:
            zip_path.unlink(missing_ok=True)
        self.flush()
        log.info("uploaded project=%s parquet files=%d to the TRE", project_slug, len(files))
        return f"{self.api_url}/airlock/{file_name}"


def tre_from_secrets(
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    *,
    api_url: str | None = None,
    verify: bool | str = True,
) -> TreUploader:
    """An uploader with the token from secret `<alias>--tre--token` (or PIXL's
    `<alias>--ftp--token`) and the API URL from `PIXL_TRE_API_URL` (default: UCL ARC's)."""
    name = secret_name(alias_or_slug)
    try:
        token = get_secret(name)
    except SecretNotFoundError:
        try:
            token = get_secret(pixl_secret_name(alias_or_slug))
        except SecretNotFoundError:
            raise SecretNotFoundError(
                f"Secret '{name}' is not set (nor PIXL's '{pixl_secret_name(alias_or_slug)}'): "
                "set it to the project's TRE API token."
            ) from None
        name = pixl_secret_name(alias_or_slug)
    return TreUploader(
        api_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL,
        token,
        verify=verify,
        token_hint=f"secret '{name}'",
        url_hint=API_URL_ENV,
    )
