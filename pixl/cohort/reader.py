"""The one entry point: read a cohort from whichever format the path holds."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from pixl.cohort.csv_cohort import read_csv_cohort
from pixl.cohort.model import Cohort
from pixl.cohort.omop import read_omop_cohort
from pixl.errors import CohortError


def read_cohort(path: Path, known_projects: Collection[str] | None = None) -> Cohort:
    """Read a CSV cohort file or an OMOP ES extract directory, fully validated.

    Returns a whole valid Cohort or raises CohortError; never a partial result.
    `known_projects` (slugs or names), when given, rejects rows of any other project.
    """
    path = Path(path)
    if path.is_dir():
        return read_omop_cohort(path, known_projects)
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_csv_cohort(path, known_projects)
    found = "a file that is not .csv" if path.is_file() else "nothing there"
    raise CohortError(
        str(path),
        f"expected a CSV cohort file (*.csv) or an OMOP ES extract directory "
        f"(with extract_summary.json), found {found}",
    )
