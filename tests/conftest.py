"""Fixtures for real servers on localhost. Each is created once per test run and fails
loudly when its server is missing: start them with `make services`."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from pixl.dicom.simulated_archive import SimulatedArchive
from pixl.local_stack import WorkerGroup
from pixl.settings import DicomNode

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _require(port: int, name: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) != 0:
            pytest.fail(f"{name} is not listening on 127.0.0.1:{port}: run `make services`")


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh RabbitMQ virtual host for this test run; yields its AMQP URL."""
    _require(5672, "RabbitMQ")
    vhost = f"pixl-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
    )
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


def _admin() -> psycopg2.extensions.connection:
    _require(5432, "PostgreSQL")
    connection = psycopg2.connect(**POSTGRES)
    connection.autocommit = True
    return connection


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"pixl_test_{uuid.uuid4().hex[:10]}"
    connection = _admin()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    connection = _admin()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Point the in-process settings at a fresh data folder, and reset cached parts."""
    from pixl import components
    from pixl.records import db
    from pixl.secrets import get_secret
    from pixl.settings import get_settings

    monkeypatch.setenv("PIXL_DATA_DIR", str(tmp_path / "data"))
    for name in list(os.environ):
        if name.startswith("PIXL_") and name != "PIXL_DATA_DIR":
            monkeypatch.delenv(name)
    caches = [get_settings, get_secret, db.get_engine]
    caches += [components.raw_cache, components.archive, components.project_config]
    caches += [components.anonymiser, components.uploader]
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def stack_factory(tmp_path, isolated_settings, monkeypatch):  # type: ignore[no-untyped-def]
    """Start a LocalStack (simulated VNA and PACS, DICOM cache, workers) over a synthetic
    cohort; `extra_env` points records and broker at real servers. Stopped afterwards."""
    from pixl.demo import REPO_PROJECTS, plan_cohort, seed_secrets, write_inputs
    from pixl.local_stack import LocalStack
    from pixl.records import migrate
    from pixl.settings import get_settings

    stacks: list[LocalStack] = []

    def start(  # type: ignore[no-untyped-def]
        extra_env: dict[str, str],
        studies: int = 8,
        image_size: int = 64,
        projects_dir: Path | None = None,
        **stack_options,
    ):
        stack = LocalStack(
            tmp_path / "stack",
            extra_env=extra_env,
            projects_dir=projects_dir or REPO_PROJECTS,
            **stack_options,
        )
        for name, value in stack.configure().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        planned = plan_cohort(studies, seed=11)
        if image_size != 64:
            planned = [
                dataclasses.replace(
                    p, spec=dataclasses.replace(p.spec, rows=image_size, columns=image_size)
                )
                for p in planned
            ]
        cohort = tmp_path / "cohort.csv"
        write_inputs(planned, stack, cohort)
        seed_secrets({p.project for p in planned})
        migrate()
        stack.start()
        stacks.append(stack)
        return stack, planned, cohort

    yield start
    for stack in stacks:
        stack.stop()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 9, emptied before and after the test."""
    import redis

    _require(6379, "Redis")
    url = "redis://127.0.0.1:6379/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


class PrivateServer:
    """A server of the test's own on another port, to stop and start mid-run."""

    def __init__(
        self,
        name: str,
        url: str,
        port: int,
        start: list[str],
        stop: list[str],
        env: dict[str, str],
        user: str | None = None,
    ) -> None:
        self.name, self.url, self.port = name, url, port
        self._start, self._stop, self._env, self._user = start, stop, env, user
        self._process: subprocess.Popen[bytes] | None = None

    def _wait(self, listening: bool, seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if (sock.connect_ex(("127.0.0.1", self.port)) == 0) == listening:
                    return
            time.sleep(0.2)
        pytest.fail(f"{self.name} did not {'start' if listening else 'stop'} in {seconds}s")

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._start,
            env=os.environ | self._env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait(True, 60)

    def stop(self) -> None:
        subprocess.run(self._stop, env=os.environ | self._env, check=False, capture_output=True)
        if self._process is not None:
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._wait(False, 30)


@pytest.fixture
def private_rabbitmq() -> Iterator[PrivateServer]:  # type: ignore[no-untyped-def]
    """A RabbitMQ node of this test's own, on port 5673, in the foreground."""
    import shutil as _shutil

    # Not under pytest's tmp folder: that is private to root, and RabbitMQ runs as rabbitmq.
    base = Path(tempfile.mkdtemp(prefix="pixl-rabbitmq-"))
    _shutil.chown(base, "rabbitmq", "rabbitmq")
    node = "pixlcrash@localhost"
    env = {
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": "5673",
        "RABBITMQ_DIST_PORT": "25673",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
    }
    server = PrivateServer(
        "the private RabbitMQ", "amqp://guest:guest@127.0.0.1:5673//", 5673,
        ["rabbitmq-server"], ["rabbitmqctl", "-n", node, "stop"], env,
    )  # fmt: skip
    server.start()
    yield server
    server.stop()
    _shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivateServer]:  # type: ignore[no-untyped-def]
    """A PostgreSQL cluster of this test's own, on port 5433."""
    import glob
    import shutil as _shutil

    bin_dir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    # Not under pytest's tmp folder: that is private to root, and PostgreSQL runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="pixl-postgres-"))
    _shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p 5433 -k {base} -c listen_addresses=127.0.0.1"
    server = PrivateServer(
        "the private PostgreSQL", "postgresql+psycopg2://postgres@127.0.0.1:5433/postgres", 5433,
        [*as_postgres, f"{bin_dir}/postgres", "-D", str(data), *options.split()],
        [*as_postgres, f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"], {},
    )  # fmt: skip
    server.start()
    yield server
    server.stop()
    _shutil.rmtree(base, ignore_errors=True)


RETRIEVERS = [WorkerGroup(f"retrieve{i}", "primary", 2) for i in range(4)]
WORKERS = [*RETRIEVERS, WorkerGroup("process", "anonymise,upload", 2)]


@pytest.fixture
def stack_with_vna(stack_factory, rabbitmq_vhost: str, postgres_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    """A stack whose VNA is a SimulatedArchive in this process, so tests can read what the
    archive saw (associations, moves) and inject faults; RabbitMQ, PostgreSQL and Redis."""
    archives: list[SimulatedArchive] = []

    def start(studies: int, lease: float = 60.0, workers=WORKERS, **archive_options):  # type: ignore[no-untyped-def]
        stack, planned, cohort = stack_factory(
            {
                "PIXL_BROKER_URL": rabbitmq_vhost,
                "PIXL_DATABASE_URL": postgres_url,
                "PIXL_REDIS_URL": redis_url,
                "PIXL_THROTTLE_LEASE_SECONDS": str(lease),
            },
            studies=studies,
            with_pacs=False,
            external=frozenset({"vna"}),
            workers=workers,
        )
        # Every study the plan put in the PACS goes to the VNA: this test has one archive.
        for folder in stack.pacs_folder.iterdir():
            shutil.move(str(folder), stack.vna_folder / folder.name)
        archive = SimulatedArchive(
            stack.vna_folder,
            DicomNode(ae_title="VNA", port=stack.ports["vna"]),
            {"PIXLCACHE": ("127.0.0.1", stack.ports["cache"])},
            **archive_options,
        )
        archive.start()
        archives.append(archive)
        return stack, planned, cohort, archive

    yield start
    for archive in archives:
        archive.stop()
