"""A real FTPS server (pyftpdlib, TLS required on control and data) for the uploader tests.

Started once per test run on 127.0.0.1 in a background thread, with a self-signed
certificate made for it. Tests isolate themselves by project slug.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

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


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pixl test ftps")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FTPSServer]:
    root = tmp_path_factory.mktemp("ftps")
    home = root / "home"
    home.mkdir()
    cert_path, key_path = _self_signed_certificate(root)
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
