"""The cluster-wide archive limit under load, and its cost against plain Redis INCR/DECR.

Part 1: 4 processes x 3 threads (12 would-be transfers) against 5 concurrent and 10/s for
about 5 s; each worker holds a slot, takes one token inside it, "transfers" for 0.1-0.9 s.
Prints the peak concurrency (Redis counter and recorded times) and the observed rate.
Part 2: one uncontended acquire+release, and one take(1), against an INCR+DECR pair on the
same connection, in the same run: the ratio is what matters.

    python benchmarks/bench_throttle.py [--seconds 5] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.queues import Queue
from typing import Any

import redis

from pixl.throttle import ArchiveLimiter, set_limits

MAX_CONCURRENT, RATE = 5, 10.0
PROCESSES, THREADS = 4, 3


def _worker_process(url: str, archive: str, seconds: float, results: Queue[Any]) -> None:
    client = redis.Redis.from_url(url)
    limiter = ArchiveLimiter(client, archive)
    inside = f"pixl:bench:{archive}:inside"
    spans: list[tuple[float, float]] = []
    peaks: list[int] = []
    until = time.monotonic() + seconds

    def work() -> None:
        peak = 0
        while time.monotonic() < until:
            with limiter.transfer(timeout=60):
                limiter.take(1, timeout=60)
                start = time.monotonic()
                peak = max(peak, int(client.incr(inside)))
                time.sleep(random.uniform(0.1, 0.9))
                client.decr(inside)
                spans.append((start, time.monotonic()))
        peaks.append(peak)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((max(peaks), spans))


def _overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def _per_call(action: Callable[[], object], count: int) -> float:
    """Seconds per call, best of 3 rounds."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            action()
        best = min(best, (time.perf_counter() - start) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    archive = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        set_limits(client, archive, max_concurrent=MAX_CONCURRENT, rate_per_second=RATE)
        context = multiprocessing.get_context("fork")
        results: Queue[Any] = context.Queue()
        processes = [
            context.Process(
                target=_worker_process, args=(args.redis, archive, args.seconds, results)
            )
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=args.seconds + 120) for _ in processes]
        for process in processes:
            process.join()
        spans = sorted(span for _, process_spans in outcomes for span in process_spans)
        starts = [start for start, _ in spans]
        burst = int(max(1.0, RATE))
        steady = (len(starts) - burst - 1) / (starts[-1] - starts[burst])
        overall = len(starts) / (spans[-1][1] - starts[0])
        print(
            f"{PROCESSES} processes x {THREADS} threads, limit {MAX_CONCURRENT} concurrent, "
            f"{RATE:g}/s, {args.seconds:g} s: {len(spans)} transfers"
        )
        print(
            f"  peak concurrency: {max(peak for peak, _ in outcomes)} (Redis counter), "
            f"{_overlap(spans)} (recorded times); limit {MAX_CONCURRENT}"
        )
        print(
            f"  rate: {steady:.2f}/s after the initial burst of {burst}, {overall:.2f}/s "
            f"overall; limit {RATE:g}/s"
        )

        set_limits(client, archive, max_concurrent=1000, rate_per_second=1e9)
        limiter = ArchiveLimiter(client, archive)
        counter = f"pixl:bench:{archive}:counter"

        def incr_decr() -> None:
            client.incr(counter)
            client.decr(counter)

        def acquire_release() -> None:
            limiter.acquire(timeout=1).release()

        def with_transfer() -> None:
            with limiter.transfer(timeout=1):
                pass

        def take() -> None:
            limiter.take(1, timeout=1)

        reference = _per_call(incr_decr, args.calls)
        print(f"  INCR+DECR pair (reference): {reference * 1e6:.0f} us")
        for name, action in [
            ("acquire+release", acquire_release),
            ("with transfer() (+heartbeat thread)", with_transfer),
            ("take(1)", take),
        ]:
            seconds = _per_call(action, args.calls)
            print(f"  {name}: {seconds * 1e6:.0f} us, ratio {seconds / reference:.2f}")
    finally:
        for key in client.scan_iter(match=f"pixl:*:{archive}*"):
            client.delete(key)


if __name__ == "__main__":
    main()
