"""Start pixl's processes on one machine: simulated VNA and PACS, the built-in DICOM cache
and Celery workers. Used by `python -m pixl demo` and by the end-to-end tests, so both run
the same real processes (real associations, real workers on a real broker).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pixl.errors import PixlError

READY_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PixlError(f"{what} exited with code {process.returncode} before it was ready")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise PixlError(f"{what} did not listen on port {port} within {READY_TIMEOUT_SECONDS}s")


def stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process is still there after the grace period."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class WorkerGroup:
    """One `python -m pixl worker` process for some queues."""

    name: str
    queues: str
    concurrency: int


DEFAULT_WORKERS = (
    WorkerGroup("retrieve", "primary,secondary", 2),
    WorkerGroup("process", "anonymise,upload,housekeeping", 2),
)


@dataclass
class LocalStack:
    """The archives, the cache and the workers as child processes, with their settings.

    `env` holds the `PIXL_*` settings every child gets (and that the caller should use
    in-process too); `extra_env` can point the records and the broker at real servers.
    """

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    with_pacs: bool = True
    # Parts the caller runs itself ("vna", "pacs", "cache"), for example a real Orthanc;
    # point the settings at them through `extra_env`.
    external: frozenset[str] = frozenset()
    workers: Sequence[WorkerGroup] = DEFAULT_WORKERS
    projects_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def vna_folder(self) -> Path:
        return self.workdir / "vna"

    @property
    def pacs_folder(self) -> Path:
        return self.workdir / "pacs"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def configure(self) -> dict[str, str]:
        """Choose ports and write the settings; call before writing data or starting."""
        cache_port, vna_port, pacs_port = free_port(), free_port(), free_port()
        self.ports = {"cache": cache_port, "vna": vna_port, "pacs": pacs_port}
        self.env = {
            "PIXL_DATA_DIR": str(self.workdir / "data"),
            "PIXL_CACHE_NODE": json.dumps({"ae_title": "PIXLCACHE", "port": cache_port}),
            "PIXL_VNA": json.dumps({"ae_title": "VNA", "port": vna_port}),
            "PIXL_DICOM_TIMEOUT_SECONDS": "10",
            "PIXL_RETRY_BACKOFF_SECONDS": "0.5",
            # The simulated PACS is no clinical system: it may be asked at any hour.
            "PIXL_PACS_HOURS": "always",
        }
        if self.with_pacs:
            self.env["PIXL_PACS"] = json.dumps({"ae_title": "PACS", "port": pacs_port})
        if self.projects_dir is not None:
            self.env["PIXL_PROJECTS_DIR"] = str(self.projects_dir.resolve())
        self.env.update(self.extra_env)
        # An external cache's DICOM port is where the simulated archives must send to.
        self.ports["cache"] = json.loads(self.env["PIXL_CACHE_NODE"])["port"]
        for folder in (self.vna_folder, self.pacs_folder, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        return self.env

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log_file = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, *argv],
            env=os.environ | self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start(self) -> None:
        if not self.env:
            self.configure()
        data = Path(self.env["PIXL_DATA_DIR"])
        cache = self._spawn(
            "cache",
            [
                "-m",
                "pixl.dicom.storage_scp",
                "--root",
                str(data / "cache"),
                "--ae",
                "PIXLCACHE",
                "--port",
                str(self.ports["cache"]),
            ],
        )
        wait_for_port(self.ports["cache"], cache, "the built-in DICOM cache")
        archives = [("vna", "VNA", self.vna_folder)]
        if self.with_pacs:
            archives.append(("pacs", "PACS", self.pacs_folder))
        archives = [archive for archive in archives if archive[0] not in self.external]
        for name, ae_title, folder in archives:
            process = self._spawn(
                name,
                [
                    "-m",
                    "pixl.dicom.simulated_archive",
                    "--folder",
                    str(folder),
                    "--ae",
                    ae_title,
                    "--port",
                    str(self.ports[name]),
                    "--dest",
                    f"PIXLCACHE=127.0.0.1:{self.ports['cache']}",
                ],
            )
            wait_for_port(self.ports[name], process, f"the simulated {ae_title}")
        for group in self.workers:
            self.start_worker(group)

    def start_worker(self, group: WorkerGroup) -> subprocess.Popen[bytes]:
        return self._spawn(
            f"worker-{group.name}",
            [
                "-m",
                "pixl",
                "worker",
                "--queues",
                group.queues,
                "--name",
                group.name,
                "--concurrency",
                str(group.concurrency),
                "--loglevel",
                "INFO",
            ],
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            stop_process(process, grace_seconds=10.0)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
