"""SQLAlchemy models: the record of every extract and study, the truth that status and
retries read. Managed by alembic (`alembic/versions`)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class StudyStatus(enum.StrEnum):
    """Where a study is in its chain. Terminal states end in `exported` or a failure."""

    PENDING = "pending"  # recorded, message not yet confirmed published
    QUEUED = "queued"
    RETRIEVED = "retrieved"
    ANONYMISED = "anonymised"
    EXPORTED = "exported"
    NOT_FOUND = "not_found"
    EXCLUDED = "excluded"  # every instance removed by the project's filters
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in {
            StudyStatus.EXPORTED,
            StudyStatus.NOT_FOUND,
            StudyStatus.EXCLUDED,
            StudyStatus.FAILED,
        }


class Base(DeclarativeBase):
    pass


class Extract(Base):
    """One cohort extract of one project (project slug + extract datetime)."""

    __tablename__ = "extracts"
    __table_args__ = (UniqueConstraint("project_slug", "extract_datetime"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_slug: Mapped[str] = mapped_column(String(255), index=True)
    extract_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    parquet_exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    studies: Mapped[list[Study]] = relationship(back_populates="extract")


class Study(Base):
    """One requested study. Identifiers stay in here; messages carry only `id`."""

    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("extract_id", "mrn", "accession_number", "study_uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    extract_id: Mapped[int] = mapped_column(ForeignKey("extracts.id"), index=True)
    mrn: Mapped[str] = mapped_column(String(64))
    accession_number: Mapped[str] = mapped_column(String(64), default="")
    study_uid: Mapped[str] = mapped_column(String(128), default="")
    series_uids: Mapped[str] = mapped_column(Text, default="")  # backslash-separated
    study_date: Mapped[date | None] = mapped_column(Date)
    procedure_occurrence_id: Mapped[str] = mapped_column(String(64), default="")
    participant_id: Mapped[str | None] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(Integer, default=1)

    status: Mapped[StudyStatus] = mapped_column(
        Enum(StudyStatus, native_enum=False, length=16), default=StudyStatus.PENDING, index=True
    )
    found_in: Mapped[str | None] = mapped_column(String(16))  # vna, pacs or cache
    waiting_for: Mapped[str | None] = mapped_column(String(16))  # "pacs": in the PACS queue
    source_study_uids: Mapped[str] = mapped_column(Text, default="")  # backslash-separated
    n_instances: Mapped[int | None] = mapped_column(Integer)
    pseudo_study_uid: Mapped[str | None] = mapped_column(String(128))
    pseudo_patient_id: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(Text)  # where the destination holds it
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retrieved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    extract: Mapped[Extract] = relationship(back_populates="studies")

    @property
    def series_uid_list(self) -> list[str]:
        return [uid for uid in self.series_uids.split("\\") if uid]

    @property
    def source_study_uid_list(self) -> list[str]:
        return [uid for uid in self.source_study_uids.split("\\") if uid]

    def describe(self) -> str:
        """How logs refer to this study: record id and project, never a patient identifier."""
        return f"study#{self.id} ({self.extract.project_slug})"


class CachedStudy(Base):
    """A study verified complete in the raw cache, so the archive is never asked again."""

    __tablename__ = "cached_studies"

    study_uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    n_instances: Mapped[int] = mapped_column(Integer)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
