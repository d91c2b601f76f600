"""The cluster-wide limit, measured where it matters: at the archive. Four retrieval worker
processes (two task slots each) share one limit in Redis; the simulated VNA records every
association and every C-MOVE start."""

from __future__ import annotations

import os
import signal
import time

import redis
from pipeline_support import records, run_cli, wait_for_final

from pixl.records import StudyStatus
from pixl.throttle import ArchiveLimiter, set_limits


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t < start + window))
    return best


def test_at_most_five_concurrent_transfers_at_the_archive(stack_with_vna, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    stack, _, cohort, archive = stack_with_vna(studies=17, seconds_per_instance=0.15)
    client = redis.Redis.from_url(redis_url)
    set_limits(client, "vna", max_concurrent=5, rate_per_second=100)
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    final = wait_for_final(17)
    assert sum(s.status is StudyStatus.EXPORTED for s in final.values()) == 16
    stats = archive.stats
    # 8 task slots want the archive at once; the limit holds them to 5.
    assert stats.peak_concurrent_associations == 5, stats
    assert ArchiveLimiter(client, "vna").snapshot()["holders"] == 0


def test_rate_pause_and_resume_at_the_archive(stack_with_vna, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    stack, _, cohort, archive = stack_with_vna(studies=11, seconds_per_instance=0.0)
    client = redis.Redis.from_url(redis_url)
    set_limits(client, "vna", max_concurrent=5, rate_per_second=0, burst=1)
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    time.sleep(5)
    # Paused: nothing reached the archive, nothing failed, nothing spent a retry.
    assert archive.stats.moves == 0
    assert all(s.status is StudyStatus.QUEUED and s.attempts == 0 for s in records().values())

    resumed = run_cli(stack.env, "rate", "primary", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "set to 2/s" in resumed.stdout
    set_limits(client, "vna", burst=1)
    final = wait_for_final(11)
    assert sum(s.status is StudyStatus.EXPORTED for s in final.values()) == 10
    starts = archive.stats.move_started_at
    assert len(starts) == 10
    # Token bucket of 2/s with burst 1: at most 1 + 2 starts in any second.
    assert max_in_window(starts, 1.0) <= 3
    assert (len(starts) - 1) / (max(starts) - min(starts)) <= 2 * 1.1


def test_worker_killed_mid_transfer_study_completes_once_and_slot_returns(
    stack_with_vna, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort, archive = stack_with_vna(studies=2, seconds_per_instance=1.0, lease=3.0)
    client = redis.Redis.from_url(redis_url)
    set_limits(client, "vna", max_concurrent=1, rate_per_second=100)
    limiter = ArchiveLimiter(client, "vna")
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    deadline = time.monotonic() + 30
    while archive.stats.instances_sent < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    snapshot = limiter.snapshot()
    assert snapshot["holders"] == 1
    # Holder ids are host:pid:nonce; the pid is a prefork child of one of the workers,
    # each started in its own process group. SIGKILL that whole worker mid-C-MOVE.
    holder_pid = int(snapshot["holder_ids"][0].split(":")[1])
    killed = [
        process
        for name, process in stack.processes.items()
        if name.startswith("worker-retrieve") and os.getpgid(holder_pid) == process.pid
    ]
    assert len(killed) == 1
    os.killpg(killed[0].pid, signal.SIGKILL)
    killed[0].wait()
    kill_time = time.monotonic()
    final = wait_for_final(2)
    study = final["1"]
    assert study.status is StudyStatus.EXPORTED, study.last_error
    assert study.exported_at is not None
    delivered = list((stack.workdir / "data" / "output" / planned[0].project).iterdir())
    assert [p.name for p in delivered] == [study.pseudo_study_uid]
    assert limiter.snapshot()["holders"] == 0
    # The study was asked for again only after the dead worker's lease ran out.
    restarts = [t for t in archive.stats.move_started_at if t > kill_time]
    assert restarts and min(restarts) - kill_time < 3.0 + 5.0
