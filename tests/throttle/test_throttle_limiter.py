"""Slots, leases and tokens in one process (real Redis)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from pixl.throttle import ArchiveLimiter, ArchivePausedError, ThrottledError, set_limits


def test_transfer_times_out_with_throttled_error(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, max_concurrent=1)
    limiter = ArchiveLimiter(redis_client, archive)
    with limiter.transfer(timeout=1):
        start = time.monotonic()
        with (
            pytest.raises(ThrottledError, match=r"no transfer slot within 0\.3 s"),
            limiter.transfer(timeout=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - start < 1.0
    with limiter.transfer(timeout=0):  # released on exit
        pass


def test_slot_is_released_when_the_block_raises(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, max_concurrent=1)
    limiter = ArchiveLimiter(redis_client, archive)
    with pytest.raises(RuntimeError), limiter.transfer(timeout=1):
        raise RuntimeError("C-MOVE failed")
    assert limiter.snapshot()["holders"] == 0


def test_waiter_gets_a_released_slot_at_once(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    set_limits(redis_client, archive, max_concurrent=1)
    holder = ArchiveLimiter(redis_client, archive).acquire(timeout=1)
    other = ArchiveLimiter(redis.Redis.from_url(redis_url), archive)
    released_at = 0.0

    def release_later() -> None:
        nonlocal released_at
        time.sleep(0.5)
        released_at = time.monotonic()
        holder.release()

    thread = threading.Thread(target=release_later)
    thread.start()
    with other.transfer(timeout=5):
        woken = time.monotonic() - released_at
    thread.join()
    assert woken < 0.1, woken


def test_heartbeat_keeps_a_long_transfer_beyond_its_lease(
    redis_client: redis.Redis, archive: str
) -> None:
    set_limits(redis_client, archive, max_concurrent=1)
    limiter = ArchiveLimiter(redis_client, archive, lease_seconds=0.6)
    with limiter.transfer(timeout=1) as slot:
        for _ in range(4):
            time.sleep(0.5)
            with pytest.raises(ThrottledError), limiter.transfer(timeout=0):
                pass
        assert not slot.lost


def test_manual_renew_and_lost_lease(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, max_concurrent=1)
    limiter = ArchiveLimiter(redis_client, archive, lease_seconds=0.3)
    slot = limiter.acquire(timeout=1)
    time.sleep(0.2)
    assert slot.renew()
    time.sleep(0.2)  # 0.4 s after acquiring: alive only thanks to the renewal
    with pytest.raises(ThrottledError):
        limiter.acquire(timeout=0)
    time.sleep(0.2)
    other = limiter.acquire(timeout=0)  # the lease ran out; the slot was taken over
    assert not slot.renew() and slot.lost
    other.release()


def test_take_waits_for_the_bucket_and_times_out(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, rate_per_second=2, burst=1)
    limiter = ArchiveLimiter(redis_client, archive)
    limiter.take(1, timeout=0)
    start = time.monotonic()
    limiter.take(1, timeout=2)
    assert 0.4 <= time.monotonic() - start < 1.2  # one token every 0.5 s
    with pytest.raises(ThrottledError, match="no 1 rate token"):
        limiter.take(1, timeout=0.2)


def test_a_take_larger_than_the_bucket_leaves_a_debt(
    redis_client: redis.Redis, archive: str
) -> None:
    set_limits(redis_client, archive, rate_per_second=5)
    limiter = ArchiveLimiter(redis_client, archive)
    limiter.take(12, timeout=0)  # full bucket (5): granted, 7 owed
    assert limiter.snapshot()["tokens"] < -6.5
    with pytest.raises(ThrottledError):
        limiter.take(1, timeout=0.5)  # needs 8 / 5 = 1.6 s


def test_paused_archive_raises_paused_error(redis_client: redis.Redis, archive: str) -> None:
    limiter = ArchiveLimiter(redis_client, archive)
    assert not limiter.paused()
    set_limits(redis_client, archive, rate_per_second=0)
    assert limiter.paused()
    with pytest.raises(ArchivePausedError, match="paused"):
        limiter.take(1, timeout=0.2)
    with pytest.raises(ArchivePausedError), limiter.transfer(timeout=0.2):
        pass


def test_a_lowered_limit_applies_to_the_next_acquisition(
    redis_client: redis.Redis, archive: str
) -> None:
    limiter = ArchiveLimiter(redis_client, archive)
    slots = [limiter.acquire(timeout=0) for _ in range(2)]
    set_limits(redis_client, archive, max_concurrent=2)
    with pytest.raises(ThrottledError):
        limiter.acquire(timeout=0)
    for slot in slots:
        slot.release()


def test_snapshot(redis_client: redis.Redis, archive: str) -> None:
    set_limits(redis_client, archive, max_concurrent=3, rate_per_second=4)
    limiter = ArchiveLimiter(redis_client, archive)
    limiter.take(3, timeout=0)
    with limiter.transfer(timeout=0):
        snapshot = limiter.snapshot()
    assert snapshot["holders"] == 1 and len(snapshot["holder_ids"]) == 1
    assert 1.0 <= snapshot["tokens"] < 1.5
    assert snapshot["max_concurrent"] == 3
    assert snapshot["rate_per_second"] == 4
    assert snapshot["burst"] == 4
    assert snapshot["paused"] is False
