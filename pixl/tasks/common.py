"""What every pixl task shares: stopping the chain, back-off, logging by record id."""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError

from pixl.records.models import StudyStatus
from pixl.records.transitions import set_status
from pixl.settings import get_settings

log = logging.getLogger("pixl.tasks")

# Outages of the records database or of Redis: wait and run the task again, however long
# it takes, rather than failing or dead-lettering the study.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
PIPELINE_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "max_retries": None,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
}


def stop_chain(task: Task) -> None:
    """Let this task succeed but run none of the chain's later tasks.

    Used when a study ends early (not found, excluded, failed for good): the outcome is in
    the record, and Celery's chain state is not the place to keep it.
    """
    task.request.chain = None


def backoff_seconds(retries: int) -> float:
    """Exponential back-off with full jitter, so retries of many studies spread out."""
    base = float(get_settings().retry_backoff_seconds) * 2.0**retries
    return min(base, 600.0) * (0.5 + random.random() / 2)


def end_study(
    task: Task, study_id: int, status: StudyStatus, reason: str, **fields: object
) -> None:
    """Record a final outcome and stop the chain."""
    set_status(study_id, status, error=reason, **fields)
    log.warning("study#%s %s: %s", study_id, status.value, reason)
    stop_chain(task)
