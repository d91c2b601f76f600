"""Servers for the uploader tests, each started once per test run on 127.0.0.1.

Real: FTPS (pyftpdlib, TLS required on control and data), SFTP (paramiko's server side,
sftp_server.py), Orthanc with its DICOMweb plugin. STAND-INS, where the real server cannot
run here: XNAT (xnat_standin.py) and the TRE airlock API (tre_standin.py), over HTTPS with
a self-signed certificate. Tests isolate themselves by project slug.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import pytest
import requests
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

from uploaders.https_standin import self_signed_certificate
from uploaders.sftp_server import SFTPServerState, SFTPTestServer
from uploaders.tre_standin import TreState, tre_standin
from uploaders.xnat_standin import XnatState, xnat_standin

DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

FTP_USER = "pixl"
FTP_PASSWORD = "s3cret-ftp-pa55word"


@dataclass
class FTPSServer:
    host: str
    port: int
    home: Path
    cafile: Path
    username: str = FTP_USER
    password: str = FTP_PASSWORD
    stored: list[str] = field(default_factory=list)  # every STOR path, in order

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPSServer]:
    root = tmp_path_factory.mktemp("ftps")
    home = root / "home"
    home.mkdir()
    cert_path, key_path = self_signed_certificate(root)
    stored: list[str] = []

    class Handler(TLS_FTPHandler):  # type: ignore[misc]
        def ftp_STOR(self, file: str, mode: str = "w") -> Any:
            stored.append(file)
            return super().ftp_STOR(file, mode)

    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(home), perm="elradfmwMT")
    Handler.authorizer = authorizer
    Handler.certfile = str(cert_path)
    Handler.keyfile = str(key_path)
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    Handler.auth_failed_timeout = 0.1  # default 3 s delay after a wrong password

    server = FTPServer(("127.0.0.1", 0), Handler, ioloop=IOLoop())
    host, port = server.address[:2]
    serving = threading.Event()
    serving.set()

    def serve() -> None:
        while serving.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, name="ftps-server", daemon=True)
    thread.start()
    yield FTPSServer(host, port, home, cert_path, stored=stored)
    serving.clear()
    thread.join(timeout=10)


SFTP_USER = "pixl-sftp"
SFTP_PASSWORD = "s3cret-sftp-pa55word"


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SFTPServerState]:
    """A real SFTP server (paramiko's server side, see sftp_server.py) on 127.0.0.1."""
    state = SFTPServerState(
        root=tmp_path_factory.mktemp("sftp"),
        username=SFTP_USER,
        password=SFTP_PASSWORD,
        host_key=paramiko.ECDSAKey.generate(),
    )
    server = SFTPTestServer(state)
    server.start()
    state.host, state.port = server.host, server.port
    yield state
    server.stop()


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for the HTTPS stand-ins."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust_test_ca(tls_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make `requests` (and so xnatpy) trust the stand-ins' certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_certificate[0]))
    return tls_certificate[0]


XNAT_USER = "pixl-xnat"
XNAT_PASSWORD = "s3cret-xnat-pa55word"


@pytest.fixture(scope="session")
def xnat_standin_server(tls_certificate: tuple[Path, Path]) -> Iterator[tuple[str, XnatState]]:
    """The XNAT STAND-IN (xnat_standin.py) over HTTPS; yields its URL and its state."""
    state = XnatState(XNAT_USER, XNAT_PASSWORD)
    server = xnat_standin(state, *tls_certificate)
    server.start()
    yield server.url, state
    server.stop()


ORTHANC_USER = "pixl-dicomweb"
ORTHANC_PASSWORD = "s3cret-orthanc-pa55word"


@dataclass
class OrthancServer:
    url: str  # REST root
    username: str = ORTHANC_USER
    password: str = ORTHANC_PASSWORD

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def orthanc_dicomweb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A real Orthanc (Debian's, as a plain process) with the DICOMweb plugin and HTTP basic
    authentication, on free ports with its storage in a temporary folder."""
    executable = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    if not Path(executable).exists() or not Path(DICOMWEB_PLUGIN).exists():
        pytest.fail("Orthanc with the DICOMweb plugin is needed: apt-get install orthanc-dicomweb")
    root = tmp_path_factory.mktemp("orthanc-dicomweb")
    http_port = _free_port()
    config = {
        "Name": "PIXLDICOMWEB",
        "HttpPort": http_port,
        "DicomPort": _free_port(),
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "storage"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {ORTHANC_USER: ORTHANC_PASSWORD},
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "SaveJobs": False,
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    with open(root / "orthanc.log", "wb") as log:
        process = subprocess.Popen(
            [executable, str(root / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT
        )
    server = OrthancServer(f"http://127.0.0.1:{http_port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            auth = (ORTHANC_USER, ORTHANC_PASSWORD)
            if requests.get(f"{server.url}/system", auth=auth, timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Orthanc did not start: see {root / 'orthanc.log'}")
        time.sleep(0.05)
    yield server
    process.terminate()
    try:
        process.wait(timeout=30)  # FIELD-NOTES: never two Orthancs on one storage
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


TRE_TOKEN = "tre-token-0123456789abcdef"


@pytest.fixture(scope="session")
def tre_standin_server(tls_certificate: tuple[Path, Path]) -> Iterator[tuple[str, TreState]]:
    """The TRE airlock API STAND-IN (tre_standin.py); yields its API base URL and state."""
    state = TreState(TRE_TOKEN)
    server = tre_standin(state, *tls_certificate)
    server.start()
    yield f"{server.url}/v0", state
    server.stop()
