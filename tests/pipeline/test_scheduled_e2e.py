"""Celery beat's jobs under two schedulers: each job body runs once per period, and the
finished extract's parquet files are delivered to the project's destination."""

from __future__ import annotations

import re
import time

import redis
from pipeline_support import run_cli, wait_for_final
from sqlalchemy import select

from pixl.records import Extract, session_scope
from pixl.settings import get_settings


def test_two_schedulers_fire_each_job_once_per_period(
    stack_factory, rabbitmq_vhost: str, postgres_url: str, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    stack, _, cohort = stack_factory(
        {
            "PIXL_BROKER_URL": rabbitmq_vhost,
            "PIXL_DATABASE_URL": postgres_url,
            "PIXL_REDIS_URL": redis_url,
            "PIXL_BEAT_EXPORT_SECONDS": "2",
        },
        studies=5,
    )
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    wait_for_final(5)
    for name in ("beat-a", "beat-b"):
        stack._spawn(name, ["-m", "pixl", "beat", "--schedule-file", str(stack.workdir / name)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope() as session:
            stamps = list(session.scalars(select(Extract.parquet_exported_at)))
        if stamps and all(stamps):
            break
        time.sleep(0.5)
    time.sleep(5)  # a few more periods, with both schedulers firing
    for name in ("beat-a", "beat-b"):
        stack.processes[name].terminate()

    assert len(stamps) == 2 and all(stamps)
    output = get_settings().output_dir
    assert output is not None
    for project in ("demo-ct-mr", "demo-xray"):
        linker = list((output / project).glob("*/parquet/radiology/radiology.parquet"))
        assert len(linker) == 1, f"no linker table delivered for {project}"

    log = (stack.logs / "worker-process.log").read_text()
    ran = len(re.findall(r"export_extracts: \d+ extracts exported", log))
    refused = log.count("export_extracts: already run this period")
    periods = len(list(redis.Redis.from_url(redis_url).scan_iter("pixl:beat:export_extracts:*")))
    assert ran == periods >= 2
    assert refused >= 1  # the second scheduler fired, and its run did nothing
