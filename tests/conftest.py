"""Fixtures for real servers on localhost. Each is created once per test run and fails
loudly when its server is missing: start them with `make services`."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

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

    def start(extra_env: dict[str, str], studies: int = 8, **stack_options):  # type: ignore[no-untyped-def]
        stack = LocalStack(
            tmp_path / "stack", extra_env=extra_env, projects_dir=REPO_PROJECTS, **stack_options
        )
        for name, value in stack.configure().items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        planned = plan_cohort(studies, seed=11)
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
