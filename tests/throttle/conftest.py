"""Fixtures for the archive limit: the real Redis on 127.0.0.1:6379, and a fresh archive
name per test so that tests never share keys (they are deleted afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from pixl.throttle.cli import ARCHIVE_OF_QUEUE

REDIS_URL = "redis://127.0.0.1:6379/0"


def delete_keys(client: redis.Redis, archive: str) -> None:
    for key in client.scan_iter(match=f"pixl:*:{archive}*"):
        client.delete(key)


@pytest.fixture
def redis_url() -> str:
    """For child processes, which make their own clients."""
    return REDIS_URL


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis is not listening on 127.0.0.1:6379: run `make services`")
    yield client
    client.close()


@pytest.fixture
def archive(redis_client: redis.Redis) -> Iterator[str]:
    """A unique archive name; every `pixl:*:<name>` key is removed after the test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    delete_keys(redis_client, name)


@pytest.fixture
def cli_redis(redis_url: str) -> Iterator[redis.Redis]:
    """The CLI writes the real archives' keys: database 13 is the tests' own, so it starts
    from no limits (anything left by an interrupted run is removed) and is emptied after."""
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/13")
    for archive in ARCHIVE_OF_QUEUE.values():
        delete_keys(client, archive)
    yield client
    for archive in ARCHIVE_OF_QUEUE.values():
        delete_keys(client, archive)
    client.close()
