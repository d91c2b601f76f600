"""Outside PACS hours, secondary jobs wait in the broker's queue (not in worker memory, not
spinning, not failing); inside hours the same message runs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kombu import Connection
from pipeline_support import records, run_cli, wait_for_final

from pixl.local_stack import DEFAULT_WORKERS, stop_process
from pixl.records import StudyStatus


def ready_messages(broker_url: str, queue: str) -> int:
    with Connection(broker_url) as connection:
        _, count, _ = connection.default_channel.queue_declare(queue, passive=True)
        return int(count)


def test_secondary_waits_outside_hours_and_runs_inside(
    stack_factory, rabbitmq_vhost: str, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    later = datetime.now(UTC) + timedelta(hours=6)
    closed_now = f"daily {later:%H:%M}-{later + timedelta(hours=1):%H:%M}"
    stack, planned, cohort = stack_factory(
        {
            "PIXL_BROKER_URL": rabbitmq_vhost,
            "PIXL_DATABASE_URL": postgres_url,
            "PIXL_PACS_HOURS": closed_now,
            "PIXL_PACS_TIMEZONE": "UTC",
            "PIXL_PACS_HOURS_CHECK_SECONDS": "1",
        },
        studies=5,
    )
    # Both the PACS-only study and the one held nowhere miss the VNA and wait for the PACS.
    pacs_rows = [str(i) for i, p in enumerate(planned, start=1) if p.held_by != "vna"]
    assert [planned[int(row) - 1].held_by for row in pacs_rows] == ["pacs", "nowhere"]
    result = run_cli(stack.env, "enqueue", str(cohort))
    assert result.returncode == 0, result.stderr

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = records()
        others_done = all(s.status.is_final for k, s in current.items() if k not in pacs_rows)
        if others_done and ready_messages(rabbitmq_vhost, "secondary") == 2:
            break
        time.sleep(0.5)
    # Several gate checks later, the PACS job is still waiting in the queue, untouched.
    time.sleep(3)
    for row in pacs_rows:
        waiting = records()[row]
        assert waiting.status is StudyStatus.QUEUED
        assert waiting.attempts == 0 and waiting.last_error is None
    assert ready_messages(rabbitmq_vhost, "secondary") == 2

    retrieve_group = DEFAULT_WORKERS[0]
    stop_process(stack.processes[f"worker-{retrieve_group.name}"])
    stack.env["PIXL_PACS_HOURS"] = "always"
    stack.start_worker(retrieve_group)
    final = wait_for_final(5)
    assert final[pacs_rows[0]].status is StudyStatus.EXPORTED
    assert final[pacs_rows[0]].found_in == "pacs"
    assert final[pacs_rows[1]].status is StudyStatus.NOT_FOUND
