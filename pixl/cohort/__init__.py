"""Reading cohorts (CSV files and OMOP ES extracts) into validated study jobs."""

from __future__ import annotations

from pixl.cohort.exports import copy_public_omop
from pixl.cohort.model import Cohort, OmopExtract, SkippedRow
from pixl.cohort.omop_writer import write_omop_extract
from pixl.cohort.reader import read_cohort
from pixl.cohort.values import extract_datetime_slug, slugify_project

__all__ = [
    "Cohort",
    "OmopExtract",
    "SkippedRow",
    "copy_public_omop",
    "extract_datetime_slug",
    "read_cohort",
    "slugify_project",
    "write_omop_extract",
]
