"""Enqueue a cohort: validate it whole, record its studies, publish one chain per study.

Order matters for "nothing lost, nothing half-enqueued": the file and every project config
are validated before anything is written; records are inserted in batches of short
transactions as `pending`, published, then marked `queued`. A crash between those steps
leaves `pending` records, which the next enqueue of the same cohort publishes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from pixl.anon.config import list_project_slugs, load_project_config
from pixl.cohort import Cohort, copy_public_omop, read_cohort
from pixl.jobs import StudyJob
from pixl.records.db import session_scope
from pixl.records.models import Extract, Study, StudyStatus, utcnow
from pixl.settings import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
Publish = Callable[[int, int], None]  # (study record id, priority)
Progress = Callable[[int, int], None]  # (jobs done, jobs in total)


@dataclass
class ExtractSummary:
    """What enqueueing did for one project extract."""

    project_slug: str
    extract_datetime: datetime
    jobs: int = 0
    published: int = 0
    already_exported: int = 0
    already_known: int = 0


@dataclass
class EnqueueSummary:
    source: Path
    extracts: list[ExtractSummary] = field(default_factory=list)
    skipped_rows: list[str] = field(default_factory=list)
    duplicates: int = 0
    dry_run: bool = False

    @property
    def published(self) -> int:
        return sum(e.published for e in self.extracts)

    @property
    def jobs(self) -> int:
        return sum(e.jobs for e in self.extracts)


def load_and_validate(path: Path, settings: Settings) -> Cohort:
    """Read the cohort and load every project config it names; raise before any write."""
    cohort = read_cohort(path, known_projects=list_project_slugs(settings.projects_dir))
    for slug in {job.project_slug for job in cohort.jobs}:
        load_project_config(settings.projects_dir, slug)
    return cohort


def _batches(jobs: list[StudyJob]) -> Iterator[list[StudyJob]]:
    for start in range(0, len(jobs), BATCH_SIZE):
        yield jobs[start : start + BATCH_SIZE]


def _get_extract_id(slug: str, extract_datetime: datetime) -> int:
    with session_scope() as session:
        extract_id = session.scalar(
            select(Extract.id).where(
                Extract.project_slug == slug, Extract.extract_datetime == extract_datetime
            )
        )
        if extract_id is None:
            extract = Extract(project_slug=slug, extract_datetime=extract_datetime)
            session.add(extract)
            session.flush()
            extract_id = extract.id
        return extract_id


StudyKey = tuple[str, str, str]  # (mrn, accession number, study UID)


def _existing(
    slug: str, extract_id: int
) -> tuple[set[StudyKey], dict[StudyKey, tuple[int, StudyStatus, int]]]:
    """Keys exported for this project in any extract, and this extract's records by key."""
    exported: set[StudyKey] = set()
    in_extract: dict[StudyKey, tuple[int, StudyStatus, int]] = {}
    with session_scope() as session:
        rows = session.execute(
            select(
                Study.id,
                Study.extract_id,
                Study.mrn,
                Study.accession_number,
                Study.study_uid,
                Study.status,
                Study.priority,
            )
            .join(Extract)
            .where(Extract.project_slug == slug)
        )
        for study_id, ext_id, mrn, accession, uid, status, priority in rows:
            key = (mrn, accession, uid)
            if status is StudyStatus.EXPORTED:
                exported.add(key)
            if ext_id == extract_id:
                in_extract[key] = (study_id, status, priority)
    return exported, in_extract


def _insert_pending(extract_id: int, jobs: list[StudyJob]) -> list[tuple[int, int]]:
    rows: list[dict[str, object]] = [
        {
            "extract_id": extract_id,
            "mrn": job.mrn,
            "accession_number": job.accession_number,
            "study_uid": job.study_uid,
            "series_uids": "\\".join(job.series_uids),
            "study_date": job.study_date,
            "procedure_occurrence_id": job.procedure_occurrence_id,
            "participant_id": job.participant_id,
            "priority": job.priority,
            "status": StudyStatus.PENDING,
            "source_study_uids": "",
            "attempts": 0,
            "updated_at": utcnow(),
        }
        for job in jobs
    ]
    if not rows:
        return []
    with session_scope() as session:
        ids = list(session.scalars(insert(Study).returning(Study.id), rows))
    return list(zip(ids, (job.priority for job in jobs), strict=True))


def _mark_queued(study_ids: list[int]) -> None:
    with session_scope() as session:
        session.execute(
            update(Study)
            .where(Study.id.in_(study_ids), Study.status == StudyStatus.PENDING)
            .values(status=StudyStatus.QUEUED, queued_at=utcnow())
        )


def publish_pending(studies: list[tuple[int, int]], publish: Publish) -> None:
    """Publish each pending study's chain, then mark them queued (in batches)."""
    for start in range(0, len(studies), BATCH_SIZE):
        batch = studies[start : start + BATCH_SIZE]
        for study_id, priority in batch:
            publish(study_id, priority)
        _mark_queued([study_id for study_id, _ in batch])


def enqueue_cohort(
    path: Path,
    settings: Settings,
    publish: Publish,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> EnqueueSummary:
    """Validate `path`, then record and publish every study not already exported."""
    return enqueue(load_and_validate(path, settings), settings, publish, dry_run, progress)


def enqueue(
    cohort: Cohort,
    settings: Settings,
    publish: Publish,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> EnqueueSummary:
    """Record and publish every study of a validated cohort not already exported."""
    path = cohort.source
    summary = EnqueueSummary(source=path, duplicates=cohort.duplicates, dry_run=dry_run)
    summary.skipped_rows = [f"{s.file}, row {s.row}: {s.reason}" for s in cohort.skipped]
    if cohort.omop_extract is not None and not dry_run:
        assert settings.exports_dir is not None
        copy_public_omop(cohort.omop_extract, settings.exports_dir)

    by_extract: dict[tuple[str, datetime], list[StudyJob]] = {}
    for job in cohort.jobs:
        by_extract.setdefault((job.project_slug, job.extract_datetime), []).append(job)

    total, done = len(cohort.jobs), 0
    for (slug, extract_datetime), jobs in sorted(by_extract.items()):
        extract_summary = ExtractSummary(slug, extract_datetime, jobs=len(jobs))
        summary.extracts.append(extract_summary)
        if dry_run:
            extract_summary.published = len(jobs)
            continue
        extract_id = _get_extract_id(slug, extract_datetime)
        exported, in_extract = _existing(slug, extract_id)
        for batch in _batches(jobs):
            new_jobs: list[StudyJob] = []
            to_publish: list[tuple[int, int]] = []
            for job in batch:
                key = (job.mrn, job.accession_number, job.study_uid)
                if key in exported:
                    extract_summary.already_exported += 1
                elif key in in_extract:
                    study_id, status, priority = in_extract[key]
                    if status is StudyStatus.PENDING:
                        to_publish.append((study_id, priority))
                    else:
                        extract_summary.already_known += 1
                else:
                    new_jobs.append(job)
            to_publish += _insert_pending(extract_id, new_jobs)
            publish_pending(to_publish, publish)
            extract_summary.published += len(to_publish)
            done += len(batch)
            if progress is not None:
                progress(done, total)
    log.info("enqueued %d of %d studies from %s", summary.published, summary.jobs, path)
    return summary
