"""The whole pipeline with real processes: simulated VNA and PACS (DICOM peers), the built-in
DICOM cache, Celery workers consuming real queues, and `python -m pixl enqueue` as a user
runs it. Once on the embedded default (filesystem broker, SQLite), once on real servers
(RabbitMQ, PostgreSQL)."""

from __future__ import annotations

import json
import time

from pipeline_support import STUDIES, assert_outcomes, records, run_cli, wait_for_final

from pixl.demo import PlannedStudy
from pixl.records import StudyStatus
from pixl.settings import get_settings


def test_embedded_default_end_to_end(stack_factory) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort = stack_factory({})
    assert get_settings().embedded_broker
    result = run_cli(stack.env, "enqueue", str(cohort))
    assert result.returncode == 0, result.stderr
    assert f"total: enqueued {STUDIES} of {STUDIES}" in result.stdout
    final = wait_for_final(STUDIES)
    assert_outcomes(planned, final)

    assert_status_agrees_with_disk(stack.env, planned)
    assert_no_identifier_in_logs_or_status(stack, planned)


def assert_no_identifier_in_logs_or_status(stack, planned: list[PlannedStudy]) -> None:  # type: ignore[no-untyped-def]
    """No MRN, accession number or name in any process's log, nor in what status shows."""
    status = run_cli(stack.env, "status")
    texts = {"status": status.stdout + status.stderr}
    texts |= {path.name: path.read_text() for path in stack.logs.glob("*.log")}
    for item in planned:
        for value in (item.spec.mrn, item.spec.accession_number, item.spec.patient_name):
            for name, text in texts.items():
                assert value not in text, f"{name} shows a patient identifier"


def assert_status_agrees_with_disk(env: dict[str, str], planned: list[PlannedStudy]) -> None:
    """`pixl status --json` counts per project what the destination folder holds."""
    status = run_cli(env, "status", "--json")
    assert status.returncode == 0, status.stderr
    reported = {
        e["project_slug"]: e["counts"].get("exported", 0) for e in json.loads(status.stdout)
    }
    output = get_settings().output_dir
    assert output is not None
    on_disk = {p: len(list((output / p).iterdir())) for p in reported}
    assert reported == on_disk
    assert sum(reported.values()) == sum(p.held_by != "nowhere" for p in planned)


def test_real_servers_two_projects_vna_pacs_not_found_and_no_refetch(
    stack_factory, rabbitmq_vhost: str, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort = stack_factory(
        {"PIXL_BROKER_URL": rabbitmq_vhost, "PIXL_DATABASE_URL": postgres_url}
    )
    assert {p.project for p in planned} == {"demo-ct-mr", "demo-xray"}
    assert {p.held_by for p in planned} == {"vna", "pacs", "nowhere"}
    first = run_cli(stack.env, "enqueue", str(cohort))
    assert first.returncode == 0, first.stderr
    final = wait_for_final(STUDIES)
    assert_outcomes(planned, final)
    exported_at = {k: s.exported_at for k, s in final.items()}

    again = run_cli(stack.env, "enqueue", str(cohort))
    assert again.returncode == 0, again.stderr
    exported = sum(p.held_by != "nowhere" for p in planned)
    assert "total: enqueued 0 of" in again.stdout
    assert again.stdout.count("already exported") == 2
    time.sleep(3)
    assert {k: s.exported_at for k, s in records().items()} == exported_at
    assert sum(s.status is StudyStatus.EXPORTED for s in records().values()) == exported
    assert_status_agrees_with_disk(stack.env, planned)
