"""MB/s of the uploaders against a plain client sending the same bytes to the same server.

Each destination runs on 127.0.0.1 in this process (FTPS: pyftpdlib with TLS; SFTP:
paramiko's server side from the tests) or as a local process (Orthanc with DICOMweb, if
installed). The uploader's time includes everything it does (zipping, existence checks,
rename); the plain client only sends the prepared bytes: ftplib STOR of the zip, paramiko
`put` of the zip, one `requests` POST of the STOW-RS body. MB/s are of the study's files.

    python benchmarks/bench_upload.py [--instances 40] [--size 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import ftplib
import json
import logging
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import paramiko
import requests
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / part) for part in ("", "tests")]

from uploaders.https_standin import self_signed_certificate  # noqa: E402
from uploaders.sftp_server import SFTPServerState, SFTPTestServer  # noqa: E402

from pixl.synthetic import StudySpec, write_study  # noqa: E402
from pixl.uploaders import DicomWebUploader, FTPSUploader, SFTPUploader, zip_study  # noqa: E402
from pixl.uploaders.dicomweb import _multipart  # noqa: E402

USER, PASSWORD = "bench", "bench-password"
UID = "2.25.424242"
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def best_seconds(run: Callable[[], object], before: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def report(name: str, megabytes: float, ours: float, plain: float) -> None:
    print(
        f"{name:9s} uploader {megabytes / ours:8.1f} MB/s   plain client {megabytes / plain:8.1f} "
        f"MB/s   ratio {plain / ours:5.2f}"
    )


@contextmanager
def ftps_server(root: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    cert, key = self_signed_certificate(root)
    (root / "home").mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root / "home"), perm="elradfmwMT")
    handler: Any = type("Handler", (TLS_FTPHandler,), {})
    handler.authorizer = authorizer
    handler.certfile, handler.keyfile = str(cert), str(key)
    handler.tls_control_required = handler.tls_data_required = True
    server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
    running = threading.Event()
    running.set()

    def serve() -> None:
        while running.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.address[1], ssl.create_default_context(cafile=str(cert))
    running.clear()
    thread.join(timeout=10)


def bench_ftps(files: list[Path], zipped: Path, megabytes: float, rounds: int, root: Path) -> None:
    with ftps_server(root) as (port, context):
        uploader = FTPSUploader("127.0.0.1", port, USER, PASSWORD, ssl_context=context)
        home = root / "home"

        def clean() -> None:
            shutil.rmtree(home / "bench", ignore_errors=True)
            (home / "plain.zip").unlink(missing_ok=True)

        def plain() -> None:
            with ftplib.FTP_TLS(context=context) as ftp, zipped.open("rb") as data:
                ftp.connect("127.0.0.1", port)
                ftp.login(USER, PASSWORD)
                ftp.prot_p()
                ftp.storbinary("STOR plain.zip", data)

        ours = best_seconds(lambda: uploader.upload_study("bench", UID, files), clean, rounds)
        report("ftps", megabytes, ours, best_seconds(plain, clean, rounds))


def bench_sftp(files: list[Path], zipped: Path, megabytes: float, rounds: int, root: Path) -> None:
    (root / "sftp").mkdir()
    state = SFTPServerState(root / "sftp", USER, PASSWORD, paramiko.ECDSAKey.generate())
    server = SFTPTestServer(state)
    server.start()
    try:
        uploader = SFTPUploader(server.host, server.port, USER, PASSWORD, host_key=state.host_key)

        def clean() -> None:
            shutil.rmtree(state.root / "bench", ignore_errors=True)
            (state.root / "plain.zip").unlink(missing_ok=True)

        def plain() -> None:
            with paramiko.Transport((server.host, server.port)) as transport:
                transport.connect(state.host_key, USER, PASSWORD)
                with paramiko.SFTPClient.from_transport(transport) as sftp:
                    sftp.put(str(zipped), "plain.zip")

        ours = best_seconds(lambda: uploader.upload_study("bench", UID, files), clean, rounds)
        report("sftp", megabytes, ours, best_seconds(plain, clean, rounds))
    finally:
        server.stop()


def bench_dicomweb(files: list[Path], megabytes: float, rounds: int, root: Path) -> None:
    if not (Path(ORTHANC).exists() and DICOMWEB_PLUGIN.exists()):
        print("dicomweb  skipped: Orthanc with the DICOMweb plugin is not installed")
        return
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    config = {
        "HttpPort": ports[0],
        "DicomPort": ports[1],
        "StorageDirectory": str(root / "orthanc"),
        "IndexDirectory": str(root / "orthanc"),
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (root / "orthanc.json").write_text(json.dumps(config))
    url = f"http://127.0.0.1:{ports[0]}"
    with open(root / "orthanc.log", "wb") as log:
        process = subprocess.Popen([ORTHANC, str(root / "orthanc.json")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(requests.ConnectionError):
                if requests.get(f"{url}/system", auth=(USER, PASSWORD), timeout=1).ok:
                    break
            time.sleep(0.05)
        uploader = DicomWebUploader(f"{url}/dicom-web", USER, PASSWORD)
        boundary = f"bench-{uuid.uuid4().hex}"
        body = _multipart(files, boundary)
        session = requests.Session()
        session.auth = (USER, PASSWORD)

        def clean() -> None:
            for study in session.get(f"{url}/studies", timeout=30).json():
                session.delete(f"{url}/studies/{study}", timeout=30)

        def plain() -> None:
            content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
            session.post(
                f"{url}/dicom-web/studies",
                data=body,
                headers={"Content-Type": content_type},
                timeout=300,
            ).raise_for_status()

        ours = best_seconds(lambda: uploader.upload_study("bench", UID, files), clean, rounds)
        report("dicomweb", megabytes, ours, best_seconds(plain, clean, rounds))
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=40, help="instances in the study")
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = StudySpec(
            mrn="BENCH",
            accession_number="BENCH0001",
            study_uid=UID,
            series_count=2,
            instances_per_series=max(1, args.instances // 2),
            rows=args.size,
            columns=args.size,
        )
        files = write_study(spec, root / "study")
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        start = time.perf_counter()
        zipped = zip_study(files, UID)
        zip_seconds = time.perf_counter() - start
        zip_mb = zipped.stat().st_size / 1e6
        print(
            f"study: {len(files)} instances, {megabytes:.1f} MB; zip {zip_mb:.1f} MB in "
            f"{zip_seconds:.2f} s ({megabytes / zip_seconds:.0f} MB/s); best of {args.rounds}"
        )
        (root / "ftps").mkdir()
        try:
            bench_ftps(files, zipped, megabytes, args.rounds, root / "ftps")
            bench_sftp(files, zipped, megabytes, args.rounds, root)
            bench_dicomweb(files, megabytes, args.rounds, root)
        finally:
            zipped.unlink()
        print("ratio = plain client time / uploader time (1.0 = as fast as the plain client)")


if __name__ == "__main__":
    main()
