"""Scheduled work (SPEC section 10), as plain functions that are safe to run twice:
export each finished extract's parquet files, retry failed studies that may succeed now,
and clean exported studies out of the raw cache after a while."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from pixl import components
from pixl.enqueue import Publish
from pixl.parquet_export import export_extract_parquet
from pixl.records.db import session_scope
from pixl.records.models import CachedStudy, Extract, Study, StudyStatus, utcnow
from pixl.retry import requeue
from pixl.settings import get_settings

log = logging.getLogger(__name__)

# Failures another attempt cannot mend: a de-identification refusal or a config error.
NOT_RETRYABLE_PREFIXES = ("anonymise:",)


def finished_extracts() -> list[int]:
    """Extracts whose studies all reached an outcome, with parquet not yet exported."""
    unfinished = (
        select(Study.extract_id)
        .where(Study.status.not_in([s for s in StudyStatus if s.is_final]))
        .distinct()
    )
    with session_scope() as session:
        return list(
            session.scalars(
                select(Extract.id).where(
                    Extract.parquet_exported_at.is_(None), Extract.id.not_in(unfinished)
                )
            )
        )


def export_extract(extract_id: int) -> list[str]:
    """Deliver one extract's public OMOP files and linker table; stamp the extract."""
    settings = get_settings()
    assert settings.exports_dir is not None
    with session_scope() as session:
        extract = session.get_one(Extract, extract_id)
        slug, extract_datetime = extract.project_slug, extract.extract_datetime
        linker = [
            (procedure, uid)
            for procedure, uid in session.execute(
                select(Study.procedure_occurrence_id, Study.pseudo_study_uid).where(
                    Study.extract_id == extract_id, Study.status == StudyStatus.EXPORTED
                )
            )
            if procedure and uid
        ]
    delivered = export_extract_parquet(
        settings.exports_dir, slug, extract_datetime, linker, components.parquet_uploader(slug)
    )
    with session_scope() as session:
        session.get_one(Extract, extract_id).parquet_exported_at = utcnow()
    log.info("extract #%s (%s) parquet exported: %d files", extract_id, slug, len(delivered))
    return delivered


def export_finished_extracts() -> int:
    exported = 0
    for extract_id in finished_extracts():
        export_extract(extract_id)
        exported += 1
    return exported


def retry_failed(publish: Publish, max_attempts: int = 3) -> int:
    """Re-enqueue failed studies whose failure may be transient, up to `max_attempts`."""
    with session_scope() as session:
        chosen = [
            (study_id, priority)
            for study_id, priority, reason in session.execute(
                select(Study.id, Study.priority, Study.last_error).where(
                    Study.status == StudyStatus.FAILED, Study.attempts < max_attempts
                )
            )
            if not (reason or "").startswith(NOT_RETRYABLE_PREFIXES)
        ]
    return requeue(chosen, publish)


def clean_raw_cache(older_than: timedelta) -> int:
    """Delete from the raw cache the studies exported before `older_than` ago that no
    unfinished study still needs; returns how many studies were deleted."""
    cutoff: datetime = utcnow() - older_than
    with session_scope() as session:
        exported = session.scalars(
            select(Study.source_study_uids).where(
                Study.status == StudyStatus.EXPORTED, Study.exported_at < cutoff
            )
        )
        candidates = {uid for uids in exported for uid in uids.split("\\") if uid}
        still_needed = session.scalars(
            select(Study.source_study_uids).where(
                Study.status.not_in([s for s in StudyStatus if s.is_final])
            )
        )
        needed = {uid for uids in still_needed for uid in uids.split("\\") if uid}
        cached = set(
            session.scalars(
                select(CachedStudy.study_uid).where(CachedStudy.study_uid.in_(candidates - needed))
            )
        )
    cache = components.raw_cache()
    for study_uid in sorted(cached):
        cache.delete_study(study_uid)
        with session_scope() as session:
            session.execute(delete(CachedStudy).where(CachedStudy.study_uid == study_uid))
    if cached:
        log.info("raw cache: %d exported studies deleted", len(cached))
    return len(cached)
