"""HTTP calls shared by the HTTP destinations (DICOMweb, TRE): every failure becomes an
`UploadError` that says what answered, with which status, and what to check."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import requests

from pixl.errors import UploadError

# The server refuses this content: sending it again will not help.
_PERMANENT = frozenset({400, 409, 415, 422})


@dataclass(frozen=True)
class HttpTarget:
    """One HTTP destination: a session (auth, TLS trust) and the hints for its errors."""

    session: requests.Session
    what: str  # e.g. "DICOMweb server https://pacs.example/dicom-web"
    credentials_hint: str  # e.g. "secrets 'p--dicomweb--username' and '...--password'"
    url_hint: str  # e.g. "secret 'p--dicomweb--url'"
    timeout: float = 60.0

    def request(
        self, method: str, url: str, ok: Container[int] = (200,), **kwargs: Any
    ) -> requests.Response:
        """Send one request; a status outside `ok` or a transport failure is an UploadError."""
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as error:
            raise UploadError(
                f"{self.what}: TLS failed ({error}). If its certificate is not trusted, add "
                f"its CA to REQUESTS_CA_BUNDLE or fix the host name in {self.url_hint}."
            ) from None
        except requests.RequestException as error:
            raise UploadError(f"{self.what}: {error}; the upload will be retried.") from None
        if response.status_code not in ok:
            raise self.status_error(method, response)
        return response

    def status_error(self, method: str, response: requests.Response) -> UploadError:
        code = response.status_code
        if code == 401:
            hint = f"Check {self.credentials_hint}."
        elif code == 403:
            hint = f"The account is not allowed to do this; check {self.credentials_hint}."
        elif code in (404, 405):
            hint = f"Check the URL in {self.url_hint}."
        elif code == 413:
            hint = "The request is larger than the server accepts."
        elif code in _PERMANENT:
            hint = "The server refuses this content; see its log. It will not be retried."
        else:
            hint = "The server is busy or failing; the upload will be retried."
        body = " ".join(response.text.split())[:300]
        return UploadError(
            f"{self.what}: {method} {response.url} answered HTTP {code} {response.reason}"
            f"{f' ({body})' if body else ''}. {hint}",
            permanent=code in _PERMANENT,
        )
