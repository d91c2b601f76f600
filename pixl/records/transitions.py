"""The state changes of a study record, each one short transaction.

Tasks call these instead of touching sessions, so every change of status is written the
same way: with its timestamp, and with the error cleared or set.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from pixl.records.db import session_scope
from pixl.records.models import CachedStudy, Study, StudyStatus, utcnow

_TIMESTAMP_OF = {
    StudyStatus.QUEUED: "queued_at",
    StudyStatus.RETRIEVED: "retrieved_at",
    StudyStatus.ANONYMISED: "anonymised_at",
    StudyStatus.EXPORTED: "exported_at",
}


def load_study(study_id: int) -> Study:
    """A detached copy of the record, with its extract loaded."""
    with session_scope() as session:
        study = session.scalars(
            select(Study).options(joinedload(Study.extract)).where(Study.id == study_id)
        ).one()
        session.expunge(study)
        return study


def set_status(
    study_id: int, status: StudyStatus, error: str | None = None, **fields: object
) -> None:
    """Move a study to `status`, stamping the time and recording or clearing the error."""
    with session_scope() as session:
        study = session.get_one(Study, study_id)
        study.status = status
        study.last_error = error
        study.waiting_for = None
        if status in _TIMESTAMP_OF:
            setattr(study, _TIMESTAMP_OF[status], utcnow())
        for name, value in fields.items():
            setattr(study, name, value)


def note_waiting(study_id: int, what: str) -> None:
    """Record what a queued study waits for (shown by `pixl status`)."""
    with session_scope() as session:
        session.get_one(Study, study_id).waiting_for = what


def cached_study_counts(study_uids: list[str]) -> dict[str, int]:
    """Instance counts of the studies verified complete in the raw cache."""
    with session_scope() as session:
        rows = session.execute(
            select(CachedStudy.study_uid, CachedStudy.n_instances).where(
                CachedStudy.study_uid.in_(study_uids)
            )
        )
        return {uid: n for uid, n in rows}


def mark_cached(study_uid: str, n_instances: int) -> None:
    with session_scope() as session:
        session.merge(CachedStudy(study_uid=study_uid, n_instances=n_instances))


def known_source_study_uids(study: Study) -> list[str]:
    """Study UIDs an earlier record of the same MRN and accession number resolved to."""
    if study.study_uid:
        return [study.study_uid]
    with session_scope() as session:
        found = session.scalars(
            select(Study.source_study_uids).where(
                Study.mrn == study.mrn,
                Study.accession_number == study.accession_number,
                Study.source_study_uids != "",
            )
        ).first()
    return [uid for uid in (found or "").split("\\") if uid]
