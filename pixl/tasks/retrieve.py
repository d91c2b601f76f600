"""Retrieve tasks: primary (VNA) and secondary (PACS) queues.

Message: a study record id. A study the VNA lacks is replaced by a secondary task on the
PACS queue, keeping the rest of its chain; a study found nowhere is recorded as not found.
"""

from __future__ import annotations

import time

from celery import Task
from celery.exceptions import Reject

from pixl import components
from pixl.errors import ArchiveError
from pixl.records.models import StudyStatus
from pixl.records.transitions import (
    cached_study_counts,
    known_source_study_uids,
    load_study,
    mark_cached,
    note_waiting,
    set_status,
)
from pixl.retrieval import complete_in_cache, find_study_uids, retrieve_into_cache
from pixl.settings import get_settings
from pixl.tasks.app import app
from pixl.tasks.common import PIPELINE_TASK_OPTIONS, backoff_seconds, end_study, log, stop_chain
from pixl.tasks.pacs_gate import pacs_open_now
from pixl.throttle import ThrottledError


def _retrieve(task: Task, study_id: int, archive_name: str) -> bool:
    """Bring the study into the raw cache from `archive_name`.

    Returns False when the archive does not hold the study; True when it is in the cache
    (or the record shows this step already done).
    """
    study = load_study(study_id)
    # PENDING too: the publisher marks a batch queued only after sending it, so a worker
    # may receive a study before its record says queued.
    if study.status not in (StudyStatus.PENDING, StudyStatus.QUEUED):
        if study.status.is_final:
            stop_chain(task)
        log.info("%s already %s; retrieve skipped", study.describe(), study.status.value)
        return True

    cache = components.raw_cache()
    if not study.series_uids:
        known = cached_study_counts(known_source_study_uids(study))
        if complete_in_cache(cache, known):
            set_status(
                study_id,
                StudyStatus.RETRIEVED,
                found_in="cache",
                source_study_uids="\\".join(sorted(known)),
                n_instances=sum(known.values()),
            )
            log.info("%s complete in the raw cache; archive not asked", study.describe())
            return True

    archive = components.archive(archive_name)
    if archive is None:
        return False
    settings = get_settings()
    limiter = components.limiter(archive_name)
    try:
        # The cluster-wide limit covers the archive's part only: one transfer slot while we
        # query and move, one token per study, shared by every worker on every machine.
        # The association opens only once both are granted, so it never idles in a wait.
        with limiter.transfer(timeout=settings.throttle_wait_seconds):
            limiter.take(1, timeout=settings.throttle_wait_seconds)
            with archive:
                study_uids = find_study_uids(
                    archive, study.study_uid, study.mrn, study.accession_number
                )
                if not study_uids:
                    return False
                retrieved = retrieve_into_cache(archive, cache, study_uids, study.series_uid_list)
    except ThrottledError:
        # Paused or busy for a long time: back to the queue, keeping the chain, spending
        # no retry and piling nothing up in worker memory.
        log.info("%s waiting for %s's limit; returned to the queue", study.describe(), archive_name)
        raise Reject("throttled", requeue=True) from None
    except ArchiveError as exc:
        if task.request.retries >= settings.retrieve_max_retries:
            end_study(task, study_id, StudyStatus.FAILED, f"retrieve from {archive_name}: {exc}")
            return True
        log.warning(
            "%s retrieve from %s failed, will retry: %s", study.describe(), archive_name, exc
        )
        raise task.retry(exc=exc, countdown=backoff_seconds(task.request.retries)) from exc

    if not study.series_uids:
        for study_uid, n_instances in retrieved.held.items():
            mark_cached(study_uid, n_instances)
    set_status(
        study_id,
        StudyStatus.RETRIEVED,
        found_in=archive_name,
        source_study_uids="\\".join(retrieved.study_uids),
        n_instances=retrieved.n_instances,
    )
    log.info(
        "%s retrieved from %s: %d instances held, %d moved",
        study.describe(),
        archive_name,
        retrieved.n_instances,
        retrieved.moved,
    )
    return True


@app.task(name="pixl.retrieve_primary", **PIPELINE_TASK_OPTIONS)
def retrieve_primary(self: Task, study_id: int) -> None:
    """Query the VNA; hand the study to the PACS queue if the VNA does not have it."""
    if _retrieve(self, study_id, "vna"):
        return
    if components.archive("pacs") is not None:
        log.info("study#%s not in the VNA; moved to the secondary (PACS) queue", study_id)
        note_waiting(study_id, "pacs")
        raise self.replace(retrieve_secondary.si(study_id))
    end_study(self, study_id, StudyStatus.NOT_FOUND, "not in the VNA, and no PACS is configured")


@app.task(name="pixl.retrieve_secondary", **PIPELINE_TASK_OPTIONS)
def retrieve_secondary(self: Task, study_id: int) -> None:
    """Query the PACS, for studies the VNA did not have."""
    if not pacs_open_now():
        # Prefetched just before the window closed: give it back to the queue, in place.
        time.sleep(1.0)
        raise Reject("outside PACS hours", requeue=True)
    if not _retrieve(self, study_id, "pacs"):
        end_study(self, study_id, StudyStatus.NOT_FOUND, "not in the VNA nor in the PACS")
