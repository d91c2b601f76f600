"""Re-enqueue studies that ended badly (failed, not found), chosen by project, extract or
reason. Retrieval skips what the raw cache already holds, so a retry does not ask the
archive again for what is already here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from pixl.enqueue import Publish, publish_pending
from pixl.records.db import session_scope
from pixl.records.models import Extract, Study, StudyStatus

RETRYABLE = (StudyStatus.FAILED, StudyStatus.NOT_FOUND)


def retry_studies(
    publish: Publish,
    project: str | None = None,
    extract_datetime: datetime | None = None,
    reason: str | None = None,
    statuses: Sequence[StudyStatus] = (StudyStatus.FAILED,),
) -> int:
    """Set the matching studies back to pending, publish their chains; return how many."""
    if any(status not in RETRYABLE for status in statuses):
        raise ValueError(f"only {', '.join(s.value for s in RETRYABLE)} studies can be retried")
    query = select(Study.id, Study.priority).join(Extract).where(Study.status.in_(statuses))
    if project:
        query = query.where(Extract.project_slug == project)
    if extract_datetime:
        query = query.where(Extract.extract_datetime == extract_datetime)
    if reason:
        query = query.where(Study.last_error.contains(reason))
    with session_scope() as session:
        chosen = list(session.execute(query).tuples())
    return requeue(chosen, publish)


def requeue(studies: list[tuple[int, int]], publish: Publish) -> int:
    """Set (study id, priority) pairs back to pending, counting an attempt, and publish."""
    with session_scope() as session:
        session.execute(
            update(Study)
            .where(Study.id.in_([study_id for study_id, _ in studies]))
            .values(status=StudyStatus.PENDING, last_error=None, attempts=Study.attempts + 1)
        )
    publish_pending(studies, publish)
    return len(studies)
