"""The production raw cache: an Orthanc server that archives C-MOVE into, read over its REST API.

`OrthancCache` implements `pixl.dicom.cache.RawCache`. Archives send instances to Orthanc's
DICOM port (`node`); pixl lists, reads and deletes them over HTTP (`url`). Orthanc keys a
study by Patient ID and Study Instance UID, so one UID can map to several Orthanc studies:
every call works on all of them.

`OrthancProcess` runs a local Orthanc (`Orthanc config.json`) for the tests, the benchmarks
and a one-machine stack, as a raw cache or as a stand-in VNA/PACS.

Every failure raises `ArchiveError` with the URL and HTTP status, never a response body:
Orthanc's answers carry patient identifiers (MainDicomTags such as ImageComments).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from pixl.dicom.network import is_uid
from pixl.errors import ArchiveError, PixlError
from pixl.local_stack import READY_TIMEOUT_SECONDS, free_port
from pixl.settings import DicomNode

#: The production raw cache's configuration (plain JSON, no comments: tests load it too).
RAW_CONFIG = Path(__file__).resolve().parents[2] / "orthanc" / "orthanc-raw.json"


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


class OrthancProcess:
    """One Orthanc server started from a configuration dict on free ports, storage in `workdir`.

    `env` adds to the environment, for `${VAR}` expansion in the configuration. With
    `tcp_nodelay` the DICOM side turns off Nagle's algorithm (`TCP_NODELAY=1`, read by DCMTK):
    Debian's Orthanc 1.10 has no configuration option for it (FIELD-NOTES).
    """

    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any],
        env: Mapping[str, str] | None = None,
        tcp_nodelay: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.http_port = free_port()
        self.dicom_port = free_port()
        storage = str(self.workdir / "storage")
        self.config: dict[str, Any] = {
            **config,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "StorageDirectory": storage,
            "IndexDirectory": storage,
        }
        self.config.setdefault("Name", self.config.get("DicomAet", "ORTHANC"))
        self.env = dict(env or {})
        self.tcp_nodelay = tcp_nodelay
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.node = DicomNode(
            ae_title=str(self.config.get("DicomAet", "ORTHANC")),
            host="127.0.0.1",
            port=self.dicom_port,
        )
        self._process: subprocess.Popen[bytes] | None = None
        self._terminating = False

    @property
    def auth(self) -> tuple[str, str] | None:
        """The first registered user, `${VAR}`s expanded, when authentication is on."""
        users: dict[str, str] = self.config.get("RegisteredUsers", {})
        if not self.config.get("AuthenticationEnabled") or not users:
            return None
        user, password = next(iter(users.items()))
        return _expand(user, self.env), _expand(password, self.env)

    def start(self) -> None:
        """Write the configuration, start Orthanc and wait until `/system` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "orthanc.json"
        config_path.write_text(json.dumps(self.config, indent=2))
        env = {**os.environ, **self.env}
        if self.tcp_nodelay:
            env["TCP_NODELAY"] = "1"
        else:
            env.pop("TCP_NODELAY", None)
        executable = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
        with open(self.workdir / "orthanc.log", "ab") as log:
            self._process = subprocess.Popen(
                [executable, str(config_path)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        self._wait_ready()

    def terminate(self) -> None:
        """Ask Orthanc to stop (SIGTERM) without waiting: it takes 2-3 s, so stop several
        servers by calling `terminate` on each, then `stop`."""
        if self._process is not None and not self._terminating:
            self._process.send_signal(signal.SIGTERM)
            self._terminating = True

    def stop(self, grace_seconds: float = 30) -> None:
        """SIGTERM once and wait for the exit: a second Orthanc on the same storage must not
        start before, or it stops with "SQLite: database is locked". A second SIGTERM would
        make Orthanc exit at once, without closing its index cleanly."""
        if self._process is None:
            return
        self.terminate()
        try:
            self._process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        self._terminating = False

    def cache(self, timeout: float = 30) -> OrthancCache:
        """An `OrthancCache` over this server."""
        user, password = self.auth or (None, None)
        return OrthancCache(self.url, self.node, user, password, timeout)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call as the registered user; the decoded JSON answer (None if empty)."""
        response = requests.request(method, self.url + path, auth=self.auth, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def upload(self, files: Iterable[bytes]) -> None:
        """`POST /instances` each Part 10 file, over one HTTP connection."""
        with requests.Session() as session:
            session.auth = self.auth
            for data in files:
                response = session.post(
                    f"{self.url}/instances",
                    data=data,
                    headers={"Content-Type": "application/dicom"},
                    timeout=60,
                )
                response.raise_for_status()

    def add_modality(self, name: str, node: DicomNode) -> None:
        """Register (or replace) a DICOM modality at run time: a C-MOVE destination, or an
        SCU allowed to query and retrieve. Kept in memory only (not in the database)."""
        body = {"AET": node.ae_title, "Host": node.host, "Port": node.port}
        self.api("PUT", f"/modalities/{name}", json=body)

    def empty(self) -> None:
        """Delete every patient, hence every study, series and instance."""
        for patient in self.api("GET", "/patients"):
            self.api("DELETE", f"/patients/{patient}")

    def __enter__(self) -> OrthancProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PixlError(
                    f"Orthanc exited with code {self._process.returncode} before it was ready; "
                    f"see {self.workdir / 'orthanc.log'}"
                )
            try:
                if requests.get(f"{self.url}/system", auth=self.auth, timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise PixlError(f"Orthanc did not answer on {self.url} within {READY_TIMEOUT_SECONDS} s")


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Orthanc's `${VAR}` expansion of a configuration string, for the values we read back."""
    for name, replacement in {**os.environ, **env}.items():
        value = value.replace(f"${{{name}}}", replacement)
    return value


def load_raw_config() -> dict[str, Any]:
    """The production raw cache configuration, `orthanc/orthanc-raw.json`, as a dict."""
    config: dict[str, Any] = json.loads(RAW_CONFIG.read_text())
    return config
