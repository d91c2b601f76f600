"""Crashes with real processes: SIGKILL of workers in every step, and restarts of RabbitMQ
and PostgreSQL mid-run. Every study must end exported exactly once, the records must agree
with the destination, and nothing may be left half-done."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from pipeline_support import records, run_cli, wait_for_final

from pixl.local_stack import DEFAULT_WORKERS, LocalStack
from pixl.records import Study, StudyStatus
from pixl.settings import get_settings

RETRIEVE, PROCESS = DEFAULT_WORKERS


def sigkill_worker(stack: LocalStack, name: str) -> None:
    """SIGKILL a worker's whole process group (main process and pool children)."""
    process = stack.processes[f"worker-{name}"]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until(
    condition: Callable[[dict[str, Study]], bool], seconds: float = 60
) -> dict[str, Study]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = records()
        if condition(current):
            return current
        time.sleep(0.01)
    raise AssertionError(
        f"condition not met in {seconds}s: {[s.status.value for s in records().values()]}"
    )


def assert_exported_exactly_once(final: dict[str, Study], expected_exported: int) -> None:
    exported = [s for s in final.values() if s.status is StudyStatus.EXPORTED]
    assert len(exported) == expected_exported, {
        k: (s.status.value, s.last_error) for k, s in final.items()
    }
    settings = get_settings()
    assert settings.output_dir is not None and settings.staging_dir is not None
    delivered = {p.name for p in settings.output_dir.glob("*/*")}
    assert delivered == {s.pseudo_study_uid for s in exported}, "destination and records disagree"
    assert not list(settings.output_dir.rglob("*.partial")), "a half upload was left behind"
    for study in exported:
        folder = next(settings.output_dir.glob(f"*/{study.pseudo_study_uid}"))
        assert len(list(folder.glob("*.dcm"))) == study.n_instances
    assert not [p for p in settings.staging_dir.rglob("*.dcm")], "staging not cleaned up"


def test_sigkill_in_retrieve_anonymise_and_upload(
    stack_factory, rabbitmq_vhost: str, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort = stack_factory(
        {"PIXL_BROKER_URL": rabbitmq_vhost, "PIXL_DATABASE_URL": postgres_url},
        studies=9,
        image_size=512,
    )
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    # Kill the retrieval worker while a study waits for or is in retrieval, then the
    # processing worker while a study is retrieved (anonymise running) and while one is
    # anonymised (upload running); each is restarted at once.
    for worker, state in [
        (RETRIEVE, StudyStatus.QUEUED),
        (PROCESS, StudyStatus.RETRIEVED),
        (PROCESS, StudyStatus.ANONYMISED),
    ]:
        wait_until(lambda rs, st=state: any(s.status is st for s in rs.values()))
        sigkill_worker(stack, worker.name)
        stack.start_worker(worker)
    final = wait_for_final(9)
    assert_exported_exactly_once(final, sum(p.held_by != "nowhere" for p in planned))


def test_rabbitmq_and_postgresql_restart_mid_run(
    stack_factory, private_rabbitmq, private_postgres
) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort = stack_factory(
        {"PIXL_BROKER_URL": private_rabbitmq.url, "PIXL_DATABASE_URL": private_postgres.url},
        studies=12,
        image_size=256,
    )
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    wait_until(lambda rs: sum(s.status is StudyStatus.EXPORTED for s in rs.values()) >= 1)
    private_rabbitmq.stop()
    time.sleep(2)
    private_rabbitmq.start()
    wait_until(lambda rs: sum(s.status is StudyStatus.EXPORTED for s in rs.values()) >= 4, 120)
    private_postgres.stop()
    time.sleep(3)
    private_postgres.start()
    final = wait_for_final(12)
    assert_exported_exactly_once(final, sum(p.held_by != "nowhere" for p in planned))
