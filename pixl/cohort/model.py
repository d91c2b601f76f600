"""What reading a cohort produces: the jobs, and what was skipped or dropped on the way."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pixl.jobs import StudyJob


@dataclass(frozen=True)
class SkippedRow:
    """A row reported and left out (for example: neither accession number nor study UID)."""

    file: str
    row: int
    reason: str


@dataclass(frozen=True)
class OmopExtract:
    """An OMOP ES extract a cohort came from; its `public/` folder is delivered as-is."""

    project_slug: str
    extract_datetime: datetime
    public_dir: Path
    source: Path


@dataclass
class Cohort:
    """A fully validated cohort file: cleaned, de-duplicated jobs in file order."""

    source: Path
    jobs: list[StudyJob]
    skipped: list[SkippedRow] = field(default_factory=list)
    duplicates: int = 0
    omop_extract: OmopExtract | None = None

    def projects(self) -> dict[tuple[str, datetime], int]:
        """Number of jobs per (project slug, extract datetime), in first-seen order."""
        return dict(Counter((job.project_slug, job.extract_datetime) for job in self.jobs))
