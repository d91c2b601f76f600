"""An archive that drops the association mid-transfer: retrieval retries with back-off,
asks only for what the cache lacks, and never counts a half study as complete."""

from __future__ import annotations

from itertools import pairwise

from pipeline_support import run_cli, wait_for_final

from pixl.local_stack import WorkerGroup
from pixl.records import StudyStatus
from pixl.settings import Settings

ONE_RETRIEVER = [
    WorkerGroup("retrieve", "primary", 1),
    WorkerGroup("process", "anonymise,upload", 1),
]


def test_dropped_association_is_retried_and_only_missing_instances_move(stack_with_vna) -> None:  # type: ignore[no-untyped-def]
    # Two studies of 2 series x 3 instances; every C-MOVE is aborted after 4 instances.
    stack, _, cohort, archive = stack_with_vna(studies=2, workers=ONE_RETRIEVER, abort_after=4)
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    final = wait_for_final(2)
    study = final["1"]
    assert study.status is StudyStatus.EXPORTED, study.last_error
    assert study.n_instances == 6
    stats = archive.stats
    # The first move was cut after 4 (or 5: the sub-association may have stored one more
    # before the abort landed); the retry asked for just what was missing, by SOP UID, in
    # one IMAGE-level move per series that lacked something.
    first, *retries = stats.instances_per_move
    assert first == 6
    assert 1 <= sum(retries) <= 2 and len(retries) <= 2


def test_archive_that_keeps_failing_ends_as_failed_with_the_reason(stack_with_vna) -> None:  # type: ignore[no-untyped-def]
    stack, _, cohort, archive = stack_with_vna(studies=2, workers=ONE_RETRIEVER, abort_after=0)
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    final = wait_for_final(2)
    study = final["1"]
    assert study.status is StudyStatus.FAILED
    assert study.last_error is not None and study.last_error.startswith("retrieve from vna:")
    starts = archive.stats.move_started_at
    assert len(starts) == 1 + Settings().retrieve_max_retries  # the first try, then retries
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert gaps[-1] > 2 * gaps[0]  # exponential back-off


def test_lost_find_answers_are_asked_again_not_believed(stack_with_vna) -> None:  # type: ignore[no-untyped-def]
    # The first STUDY-level and the first SERIES-level C-FIND come back empty, as a lost
    # response does: the study must neither be re-routed as "not found" nor counted empty.
    stack, _, cohort, archive = stack_with_vna(
        studies=2, workers=ONE_RETRIEVER, empty_answers={"STUDY": 1, "SERIES": 1}
    )
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0
    final = wait_for_final(2)
    assert final["1"].status is StudyStatus.EXPORTED, final["1"].last_error
    assert final["1"].n_instances == 6
    assert final["2"].status is StudyStatus.NOT_FOUND
    assert archive.empty_answers == {"STUDY": 0, "SERIES": 0}  # both losses happened
