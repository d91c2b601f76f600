"""Unexpected task failures: recorded on the study, so nothing fails silently.

Expected outcomes (not found, excluded, retries exhausted) are recorded by the tasks
themselves. This catches the rest, such as a bug or a lost database, after Celery has
rejected the message into the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_failure

from pixl.errors import PixlError
from pixl.records.models import StudyStatus
from pixl.records.transitions import set_status
from pixl.tasks.common import log

MAX_REASON_LENGTH = 300


@task_failure.connect
def record_unexpected_failure(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    if not args or not isinstance(args[0], int):
        return
    study_id = args[0]
    task_name = getattr(sender, "name", "task")
    # Our own errors are written never to carry a patient identifier; others (a database
    # error quoting its parameters, say) might, so only their type is shown to users.
    detail = str(exception) if isinstance(exception, PixlError) else "see the worker log"
    reason = f"unexpected error in {task_name}: {type(exception).__name__}: {detail}"
    try:
        set_status(study_id, StudyStatus.FAILED, error=reason[:MAX_REASON_LENGTH])
    except Exception:  # the database may be what failed; the message is dead-lettered anyway
        log.exception("study#%s: could not record the failure of %s", study_id, task_name)
    log.error("study#%s failed in %s; message dead-lettered", study_id, task_name)
