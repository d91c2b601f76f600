"""The limit across separate processes, as Celery's prefork workers use it (real Redis)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from multiprocessing.queues import Queue
from typing import Any

import pytest
import redis

from pixl.throttle import ArchiveLimiter, ThrottledError, set_limits

# Fork: children start at once and inherit nothing Redis-related that they use (each makes
# its own client).
CONTEXT = multiprocessing.get_context("fork")


class CountingRedis(redis.Redis):
    """A real client that counts the commands it sends (MONITOR-free)."""

    sent = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        CountingRedis.sent += 1
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def _hammer_slots(url: str, archive: str, seconds: float, results: Queue[Any]) -> None:
    client = redis.Redis.from_url(url)
    limiter = ArchiveLimiter(client, archive)
    inside = f"pixl:test:{archive}:inside"
    peak, spans = 0, []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        with limiter.transfer(timeout=10):
            start = time.monotonic()
            peak = max(peak, int(client.incr(inside)))
            time.sleep(random.uniform(0.005, 0.03))
            client.decr(inside)
            spans.append((start, time.monotonic()))
    results.put((peak, spans))


def _hold_forever(url: str, archive: str, lease: float, results: Queue[Any]) -> None:
    limiter = ArchiveLimiter(redis.Redis.from_url(url), archive, lease_seconds=lease)
    with limiter.transfer(timeout=5):
        results.put("held")
        time.sleep(60)


def _take_for(url: str, archive: str, seconds: float, results: Queue[Any]) -> None:
    limiter = ArchiveLimiter(redis.Redis.from_url(url), archive)
    stamps = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        limiter.take(1, timeout=5)
        stamps.append(time.monotonic())
    results.put(stamps)


def _wait_paused(url: str, archive: str, kind: str, results: Queue[Any]) -> None:
    limiter = ArchiveLimiter(CountingRedis.from_url(url), archive)
    results.put(("waiting", time.monotonic()))
    cpu = time.process_time()
    if kind == "take":
        limiter.take(1, timeout=15)
    else:
        with limiter.transfer(timeout=15):
            pass
    results.put(("acquired", time.monotonic(), CountingRedis.sent, time.process_time() - cpu))


def _start(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    process = CONTEXT.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_concurrency_never_exceeds_limit_across_four_processes(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    set_limits(redis_client, archive, max_concurrent=3, rate_per_second=1000)
    results: Queue[Any] = CONTEXT.Queue()
    processes = [_start(_hammer_slots, redis_url, archive, 2.5, results) for _ in range(4)]
    outcomes = [results.get(timeout=20) for _ in processes]
    for process in processes:
        process.join(5)
    peaks = [peak for peak, _ in outcomes]
    spans = [span for _, process_spans in outcomes for span in process_spans]
    assert max(peaks) == 3, peaks  # the limit was reached, never passed (counter in Redis)
    assert _max_overlap(spans) <= 3  # and never passed by the recorded times either
    assert all(process_spans for _, process_spans in outcomes)  # nobody starved
    assert len(spans) > 100
    assert redis_client.zcard(f"pixl:slots:{archive}") == 0


def test_slot_of_a_killed_worker_comes_back_after_its_lease(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    lease = 1.5
    set_limits(redis_client, archive, max_concurrent=1)
    limiter = ArchiveLimiter(redis_client, archive, lease_seconds=lease)
    results: Queue[Any] = CONTEXT.Queue()
    holder = _start(_hold_forever, redis_url, archive, lease, results)
    assert results.get(timeout=10) == "held"
    time.sleep(lease)  # the heartbeat keeps the slot beyond its first lease
    with pytest.raises(ThrottledError), limiter.transfer(timeout=0.2):
        pass
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(5)
    killed = time.monotonic()
    with limiter.transfer(timeout=5):
        waited = time.monotonic() - killed
    assert waited <= lease + 0.3, waited


def test_rate_is_held_across_processes(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    rate, seconds = 10, 3.0
    set_limits(redis_client, archive, rate_per_second=rate)  # burst: the default, 10
    results: Queue[Any] = CONTEXT.Queue()
    processes = [_start(_take_for, redis_url, archive, seconds, results) for _ in range(4)]
    per_process = [results.get(timeout=20) for _ in processes]
    for process in processes:
        process.join(5)
    stamps = sorted(stamp for process_stamps in per_process for stamp in process_stamps)
    burst = rate
    # After the initial burst the bucket refills at `rate`.
    steady = (len(stamps) - burst - 1) / (stamps[-1] - stamps[burst])
    assert rate * 0.8 <= steady <= rate * 1.2, steady
    in_any_second = max(
        sum(1 for stamp in stamps if start <= stamp < start + 1) for start in stamps
    )
    assert in_any_second <= rate + burst + 1
    assert all(len(process_stamps) >= 3 for process_stamps in per_process)


def test_rate_zero_pauses_without_busy_waiting_and_resumes_quickly(
    redis_client: redis.Redis, redis_url: str, archive: str
) -> None:
    set_limits(redis_client, archive, rate_per_second=0)
    results: Queue[Any] = CONTEXT.Queue()
    waiters = [
        _start(_wait_paused, redis_url, archive, kind, results) for kind in ("take", "transfer")
    ]
    for _ in waiters:
        assert results.get(timeout=10)[0] == "waiting"
    time.sleep(0.3)  # both are inside their wait
    before = int(redis_client.info("stats")["total_commands_processed"])
    time.sleep(2.0)
    during_pause = int(redis_client.info("stats")["total_commands_processed"]) - before - 1
    assert results.empty()  # nothing acquired while paused
    resuming = time.monotonic()
    set_limits(redis_client, archive, rate_per_second=5)
    resumed = time.monotonic()
    acquired = [results.get(timeout=5) for _ in waiters]
    for waiter in waiters:
        waiter.join(5)
    for state, at, sent, cpu in acquired:
        assert state == "acquired"
        assert resuming < at < resumed + 1.0, (at - resuming, resumed - resuming)
        assert sent <= 12, sent  # script (load) calls; no polling
        assert cpu < 0.5, cpu
    # Whole server, 2 s of pause with two waiters: a busy loop would be hundreds.
    assert during_pause <= 20, during_pause
