"""Limits in Redis, their JSON copy, and the `rate` command (real Redis)."""

from __future__ import annotations

import json
import multiprocessing
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import pytest
import redis

from pixl.throttle import (
    ArchiveLimiter,
    Limits,
    LimitsError,
    ThrottledError,
    get_limits,
    set_limits,
)
from pixl.throttle.cli import parse_rate, rate_command
from pixl.throttle.limits import limits_key

CONTEXT = multiprocessing.get_context("fork")


def _limits_in_new_process(url: str, archive: str, results: Queue[Any]) -> None:
    results.put(ArchiveLimiter(redis.Redis.from_url(url), archive).limits())


def test_defaults_when_unset(redis_client: redis.Redis, archive: str) -> None:
    limits = get_limits(redis_client, archive)
    assert limits == Limits(max_concurrent=5, rate_per_second=5.0)
    assert limits.bucket_size == 5 and not limits.paused


def test_set_changes_only_what_is_given(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, max_concurrent=2)
    assert set_limits(redis_client, archive, rate_per_second=0.5) == Limits(2, 0.5)
    assert get_limits(redis_client, archive).bucket_size == 1  # max(1, rate)
    assert set_limits(redis_client, archive, burst=3).bucket_size == 3
    assert set_limits(redis_client, archive, burst=0).burst is None


@pytest.mark.parametrize(
    "change",
    [{"max_concurrent": 0}, {"rate_per_second": -1}, {"rate_per_second": float("nan")}],
)
def test_invalid_limits_are_refused(
    redis_client: redis.Redis, archive: str, change: dict[str, Any]
) -> None:
    with pytest.raises(LimitsError):
        set_limits(redis_client, archive, **change)
    assert not redis_client.exists(limits_key(archive))


def test_limits_are_seen_by_a_new_process(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    set_limits(redis_client, archive, max_concurrent=3, rate_per_second=7.5)
    results: Queue[Any] = CONTEXT.Queue()
    process = CONTEXT.Process(target=_limits_in_new_process, args=(redis_url, archive, results))
    process.start()
    assert results.get(timeout=10) == Limits(3, 7.5)
    process.join(5)


def test_file_copy_restores_limits_redis_lost(
    redis_client: redis.Redis, archive: str, tmp_path: Path
) -> None:
    path = tmp_path / "limits.json"
    set_limits(redis_client, archive, max_concurrent=2, rate_per_second=0, limits_file=path)
    saved = json.loads(path.read_text())[archive]
    assert (saved["max_concurrent"], saved["rate_per_second"]) == (2, 0.0)
    redis_client.delete(limits_key(archive))  # a Redis restart without persistence
    assert get_limits(redis_client, archive) == Limits()  # without the file: defaults
    assert get_limits(redis_client, archive, limits_file=path) == Limits(2, 0.0)
    assert redis_client.exists(limits_key(archive))  # put back for everyone


def test_file_never_overrides_redis(
    redis_client: redis.Redis, archive: str, tmp_path: Path
) -> None:
    path = tmp_path / "limits.json"
    set_limits(redis_client, archive, max_concurrent=2, limits_file=path)
    set_limits(redis_client, archive, max_concurrent=4)  # newer, not written to the file
    assert get_limits(redis_client, archive, limits_file=path).max_concurrent == 4


def test_running_limiter_restores_lost_limits(
    redis_client: redis.Redis, archive: str, tmp_path: Path
) -> None:
    path = tmp_path / "limits.json"
    set_limits(redis_client, archive, max_concurrent=1, limits_file=path)
    limiter = ArchiveLimiter(redis_client, archive, limits_file=path)
    with limiter.transfer(timeout=0):
        pass
    redis_client.delete(limits_key(archive))
    # The first acquisition after the loss runs under the defaults and restores the file's.
    with limiter.transfer(timeout=0), pytest.raises(ThrottledError):
        limiter.acquire(timeout=0)  # max 1 again, not the default 5
    assert get_limits(redis_client, archive) == Limits(1, 5.0)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("5", 5.0), ("0.5", 0.5), ("5/s", 5.0), ("120/m", 2.0), ("3600/h", 1.0), ("pause", 0.0)],
)
def test_parse_rate(text: str, per_second: float) -> None:
    assert parse_rate(text) == per_second


@pytest.mark.parametrize("text", ["fast", "5/d", "-1", "inf", ""])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(LimitsError):
        parse_rate(text)


def test_rate_command_shows_and_sets(cli_redis: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "limits.json"
    shown = rate_command(cli_redis, "primary", None, None, limits_file=path)
    assert shown.startswith("vna (queue primary): 5/s (burst 5), max 5 concurrent transfers")
    assert "0 transfer(s) running" in shown
    changed = rate_command(cli_redis, "secondary", "120/m", 2, limits_file=path)
    assert changed == (
        "pacs (queue secondary): set to 2/s (burst 2), max 2 concurrent transfers "
        "(was 5/s (burst 5), max 5 concurrent transfers)"
    )
    assert "PAUSED" in rate_command(cli_redis, "secondary", "0", None, limits_file=path)
    assert get_limits(cli_redis, "pacs") == Limits(2, 0.0)
    assert json.loads(path.read_text())["pacs"]["rate_per_second"] == 0.0
    assert get_limits(cli_redis, "vna") == Limits()  # the other queue is untouched


def test_rate_command_refuses_unknown_queue(cli_redis: redis.Redis) -> None:
    with pytest.raises(LimitsError, match="unknown queue 'primay'"):
        rate_command(cli_redis, "primay", "5", None)
