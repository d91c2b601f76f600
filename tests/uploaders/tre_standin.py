"""A STAND-IN for a TRE airlock API (UCL ARC TRE, v0) over HTTPS, as PIXL's uploader uses it.

`GET /v0/tokens/info` answers 200 for the right bearer token, 401 otherwise;
`POST /v0/airlock/upload/<file name>` keeps the body in the airlock (201; a file of the same
name is replaced); `PUT /v0/airlock/flush` moves the airlock's files into the project
storage (201). Every request is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from uploaders.https_standin import HttpsServer


@dataclass
class TreState:
    token: str
    airlock: dict[str, bytes] = field(default_factory=dict)
    storage: dict[str, bytes] = field(default_factory=dict)  # after a flush
    uploads: list[str] = field(default_factory=list)
    flushes: int = 0
    requests: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: TreState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: str = "") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        self.state.requests.append(f"{method} {path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            return self._reply(401, '{"detail": "Invalid or expired token"}')
        if (method, path) == ("GET", "/v0/tokens/info"):
            return self._reply(200, '{"project": "stand-in"}')
        prefix = "/v0/airlock/upload/"
        if method == "POST" and path.startswith(prefix):
            name = path[len(prefix) :]
            self.state.airlock[name] = body
            self.state.uploads.append(name)
            return self._reply(201, "{}")
        if (method, path) == ("PUT", "/v0/airlock/flush"):
            self.state.storage.update(self.state.airlock)
            self.state.airlock.clear()
            self.state.flushes += 1
            return self._reply(201, "{}")
        return self._reply(404, '{"detail": "Not Found"}')

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


def tre_standin(state: TreState, cert: Path, key: Path) -> HttpsServer:
    """The stand-in TRE API over HTTPS on 127.0.0.1 (base URL: `<url>/v0`), not yet started."""
    return HttpsServer(type("TreHandler", (_Handler,), {"state": state}), cert, key)
