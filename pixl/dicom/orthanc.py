"""The production raw cache: an Orthanc server that archives C-MOVE into, read over its REST API.

`OrthancCache` implements `pixl.dicom.cache.RawCache`. Archives send instances to Orthanc's
DICOM port (`node`); pixl lists, reads and deletes them over HTTP (`url`). Orthanc keys a
study by Patient ID and Study Instance UID, so one UID can map to several Orthanc studies:
every call works on all of them.

Every failure raises `ArchiveError` with the URL and HTTP status, never a response body:
Orthanc's answers carry patient identifiers (MainDicomTags such as ImageComments).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from pixl.dicom.network import is_uid
from pixl.errors import ArchiveError
from pixl.settings import DicomNode


class OrthancCache:
    """The raw cache as an Orthanc server (`orthanc/orthanc-raw.json`)."""

    def __init__(
        self,
        url: str,
        node: DicomNode,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
    ) -> None:
        self.url = url.rstrip("/")
        self.node = node
        self.timeout = timeout
        self._session = requests.Session()  # keep-alive: one TCP connection for many calls
        if username is not None:
            self._session.auth = (username, password or "")

    def instances(self, study_uid: str) -> dict[str, set[str]]:
        """Two `/tools/find` calls: instances (SOP UID + Orthanc series id), then series.

        Orthanc 1.10 ignores `RequestedTags` (new in 1.11), so the instance answers lack the
        Series Instance UID; the series-level call maps Orthanc ids to it.
        """
        found = self._find_instances(study_uid)
        if not found:
            return {}
        series_uids = {
            str(series["ID"]): str(series["MainDicomTags"]["SeriesInstanceUID"])
            for series in self._find("Series", study_uid)
        }
        held: dict[str, set[str]] = {}
        for instance in found:
            series_uid = series_uids.get(str(instance["ParentSeries"]))
            if series_uid is not None:  # a series deleted between the two calls
                held.setdefault(series_uid, set()).add(_sop_uid(instance))
        return held

    def read_instances(self, study_uid: str) -> Iterator[tuple[str, bytes]]:
        """Each instance's stored Part 10 file, as received, in SOP Instance UID order."""
        found = sorted(self._find_instances(study_uid), key=_sop_uid)
        for instance in found:
            yield _sop_uid(instance), self._request("GET", f"/instances/{instance['ID']}/file")

    def delete_study(self, study_uid: str) -> None:
        for study in self._find("Study", study_uid, expand=False):
            self._request("DELETE", f"/studies/{study}", missing_ok=True)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._session.close()

    def _find_instances(self, study_uid: str) -> list[dict[str, Any]]:
        return [i for i in self._find("Instance", study_uid) if i.get("MainDicomTags")]

    def _find(self, level: str, study_uid: str, expand: bool = True) -> list[Any]:
        """`POST /tools/find` for one study's resources at `level` (Orthanc's level names)."""
        if not is_uid(study_uid):
            raise ValueError(f"not a DICOM UID: {study_uid!r}")
        body = {"Level": level, "Query": {"StudyInstanceUID": study_uid}, "Expand": expand}
        answer: Any = self._request("POST", "/tools/find", json=body, decode=True)
        if not isinstance(answer, list):
            raise ArchiveError(f"Orthanc {self.url}/tools/find: unexpected answer; is it Orthanc?")
        return answer

    def _request(
        self,
        method: str,
        path: str,
        json: object = None,
        decode: bool = False,
        missing_ok: bool = False,
    ) -> Any:
        url = f"{self.url}{path}"
        try:
            response = self._session.request(method, url, json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ArchiveError(
                f"Orthanc {method} {url}: {type(exc).__name__}; check that the raw cache is "
                "running and reachable, then retry"
            ) from exc
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise ArchiveError(
                f"Orthanc {method} {url}: HTTP {response.status_code}; check the raw cache's "
                "username and password"
            )
        if not response.ok:
            raise ArchiveError(f"Orthanc {method} {url}: HTTP {response.status_code}; will retry")
        if not decode:
            return response.content
        try:
            return response.json()
        except ValueError as exc:
            raise ArchiveError(f"Orthanc {method} {url}: answer is not JSON") from exc


def _sop_uid(instance: dict[str, Any]) -> str:
    return str(instance["MainDicomTags"]["SOPInstanceUID"])
