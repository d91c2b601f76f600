"""A job: one study of one project's cohort, as read from a cohort file.

The job itself travels through the records, not through the broker: Celery messages carry
only the study record's id, so no patient identifier is ever in a queue or in Flower.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class StudyJob(BaseModel):
    """One study to fetch, de-identify and deliver for one project extract."""

    model_config = ConfigDict(frozen=True)

    project_slug: str
    extract_datetime: datetime
    mrn: str
    accession_number: str = ""
    study_uid: str = ""
    series_uids: tuple[str, ...] = ()
    study_date: date | None = None
    procedure_occurrence_id: str = ""
    participant_id: str | None = None
    priority: int = Field(default=1, ge=1, le=5)

    @property
    def dedup_key(self) -> tuple[str, str, str, str]:
        """What makes two rows the same study request for a project."""
        return (self.project_slug, self.mrn, self.accession_number, self.study_uid)
