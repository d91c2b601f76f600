"""Unexpected failures end in the dead-letter queue and in the record with their reason,
and `python -m pixl retry` brings the study home without asking the archive again."""

from __future__ import annotations

from pathlib import Path

from kombu import Connection
from pipeline_support import records, run_cli, wait_for_final

from pixl.records import StudyStatus
from pixl.settings import get_settings


def dead_letter_count(broker_url: str) -> int:
    with Connection(broker_url) as connection:
        _, count, _ = connection.default_channel.queue_declare("dead-letter", passive=True)
        return int(count)


def test_unexpected_failure_is_dead_lettered_recorded_and_retryable(
    stack_factory, rabbitmq_vhost: str, postgres_url: str
) -> None:  # type: ignore[no-untyped-def]
    stack, planned, cohort = stack_factory(
        {"PIXL_BROKER_URL": rabbitmq_vhost, "PIXL_DATABASE_URL": postgres_url}, studies=3
    )
    # Study record 1 will find a file where its staging folder should be: an OSError that
    # no task expects.
    staging = get_settings().staging_dir
    assert staging is not None
    blocker = Path(staging) / planned[0].project / "1"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")

    result = run_cli(stack.env, "enqueue", str(cohort))
    assert result.returncode == 0, result.stderr
    final = wait_for_final(3)
    failed = final["1"]
    assert failed.status is StudyStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.startswith("unexpected error in pixl.anonymise: FileExistsError")
    assert planned[0].spec.mrn not in failed.last_error
    assert final["2"].status is StudyStatus.EXPORTED
    assert dead_letter_count(rabbitmq_vhost) == 1

    blocker.unlink()
    retried = run_cli(stack.env, "retry", "--reason", "FileExistsError")
    assert retried.returncode == 0, retried.stderr
    assert "re-enqueued 1 studies" in retried.stdout
    final = wait_for_final(3)
    assert final["1"].status is StudyStatus.EXPORTED, final["1"].last_error
    assert final["1"].found_in == "cache"  # the archive was not asked twice
    assert records()["3"].status is StudyStatus.NOT_FOUND
