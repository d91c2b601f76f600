"""A STAND-IN for an XNAT server (no XNAT can run here), at the HTTP level.

It implements only the endpoints the `xnat` package (xnatpy 0.8) calls to log in and to
import a DICOM zip, as read in its source: `GET /` (redirect check), `PUT
/data/services/auth` (returns a JSESSIONID), `GET /data/auth` ("User '<name>' is logged in"),
`GET /data/JSESSION` (heartbeat), `DELETE /data/JSESSION` (log out), `GET /data/version` and
`/xapi/siteConfig/buildInfo`, `POST /data/services/import` (the session import service:
`project`, `subject`, `session`, `dest`, `overwrite`, `import-handler` in the query),
`GET /data/projects/<p>/experiments/<label>` and `GET /data/prearchive/projects/<p>`.
Behaviour follows XNAT's import service: session labels are unique per project, and
`overwrite=none` on an existing session is refused. Everything received is recorded.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from uploaders.https_standin import HttpsServer


@dataclass
class ImportRequest:
    """One call of the import service, as received."""

    query: dict[str, str]
    content_type: str
    names: list[str]  # the file names inside the zip


@dataclass
class XnatSession:
    project: str
    subject: str
    label: str
    destination: str
    files: set[str] = field(default_factory=set)


@dataclass
class XnatState:
    username: str
    password: str
    version: str = "1.8.10"
    imports: list[ImportRequest] = field(default_factory=list)
    sessions: dict[tuple[str, str], XnatSession] = field(default_factory=dict)  # (project, label)
    projects: set[str] = field(default_factory=set)
    jsessions: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request


class _Handler(BaseHTTPRequestHandler):
    state: XnatState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(
        self,
        status: int,
        body: str | bytes = b"",
        content_type: str = "text/plain",
        cookie: str | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        if cookie:
            self.send_header("Set-Cookie", f"JSESSIONID={cookie}; Path=/; HttpOnly")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, value: Any) -> None:
        self._reply(200, json.dumps(value), "application/json")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _logged_in(self) -> bool:
        cookie = self.headers.get("Cookie") or ""
        return any(f"JSESSIONID={token}" in cookie for token in self.state.jsessions)

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.state.requests.append(f"{method} {path}")
        body = self._body()
        if (method, path) == ("GET", "/"):
            return self._reply(200, "<html>XNAT stand-in</html>", "text/html")
        if (method, path) == ("PUT", "/data/services/auth"):
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            if (form.get("username"), form.get("password")) != (
                self.state.username,
                self.state.password,
            ):
                return self._reply(401, "<h3>Login attempt failed. Please try again.</h3>")
            token = secrets.token_hex(16).upper()
            self.state.jsessions.add(token)
            return self._reply(200, token, cookie=token)
        if not self._logged_in():
            return self._reply(401, "<h3>Login attempt failed. Please try again.</h3>")
        if (method, path) == ("GET", "/data/auth"):
            return self._reply(200, f"User '{self.state.username}' is logged in")
        if path == "/data/JSESSION":
            return self._reply(200, "")
        if (method, path) == ("GET", "/data/version"):
            return self._reply(200, self.state.version)
        if (method, path) == ("GET", "/xapi/siteConfig/buildInfo"):
            return self._json({"version": self.state.version})
        if (method, path) == ("POST", "/data/services/import"):
            return self._import(query, self.headers.get("Content-Type") or "", body)
        parts = path.split("/")
        if method == "GET" and parts[:3] == ["", "data", "projects"] and len(parts) == 6:
            return self._experiment(parts[3], parts[5])
        if method == "GET" and parts[:4] == ["", "data", "prearchive", "projects"]:
            return self._prearchive(parts[4])
        return self._reply(404, f"stand-in: no endpoint {method} {path}")

    def _import(self, query: dict[str, str], content_type: str, body: bytes) -> None:
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return self._reply(400, "The uploaded file is not a zip archive")
        self.state.imports.append(ImportRequest(query, content_type, names))
        project, subject, label = query.get("project"), query.get("subject"), query.get("session")
        if not (project and subject and label):
            return self._reply(400, "project, subject and session are required")
        if project not in self.state.projects:
            return self._reply(404, f"Project {project} not found")
        destination = query.get("dest", "/prearchive")
        overwrite = query.get("overwrite", "none")
        existing = self.state.sessions.get((project, label))
        if existing is not None and overwrite == "none":
            return self._reply(
                409,
                f"Session {label} already exists in project {project} and overwrite is none",
            )
        if existing is None or overwrite == "delete":
            existing = XnatSession(project, subject, label, destination)
            self.state.sessions[(project, label)] = existing
        existing.files.update(names)
        if destination.startswith("/prearchive"):
            where = f"/data/prearchive/projects/{project}/20240101_000000000/{label}"
        else:
            where = f"/data/archive/projects/{project}/subjects/{subject}/experiments/{label}"
        return self._reply(200, where + "\r\n")

    def _experiment(self, project: str, label: str) -> None:
        found = self.state.sessions.get((project, label))
        if found is None or not found.destination.startswith("/archive"):
            return self._reply(404, "")
        return self._json(
            {
                "items": [
                    {
                        "meta": {"xsi:type": "xnat:ctSessionData", "isHistory": False},
                        "data_fields": {"ID": f"XNAT_E{len(label)}", "label": label},
                    }
                ]
            }
        )

    def _prearchive(self, project: str) -> None:
        rows = [
            {
                "project": found.project,
                "subject": found.subject,
                "name": found.label,
                "folderName": found.label,
                "status": "READY",
                "url": f"/prearchive/projects/{project}/20240101_000000000/{found.label}",
            }
            for found in self.state.sessions.values()
            if found.project == project and found.destination.startswith("/prearchive")
        ]
        return self._json({"ResultSet": {"Result": rows}})

    def do_GET(self) -> None:
        self._route("GET")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


def xnat_standin(state: XnatState, cert: Path, key: Path) -> HttpsServer:
    """The stand-in XNAT over HTTPS on 127.0.0.1, not yet started."""
    return HttpsServer(type("XnatHandler", (_Handler,), {"state": state}), cert, key)
