"""Reading a cohort from an OMOP ES extract directory.

Procedures (public) are joined to their accession number and study UID and, through the
person, to the MRN (both private link tables).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pixl.cohort.cleaning import CandidateRow, ProjectNames, clean_rows
from pixl.cohort.model import Cohort, OmopExtract
from pixl.cohort.parquet import ParquetTable, find_table, read_table
from pixl.cohort.values import clean_text, parse_date, parse_datetime
from pixl.errors import CohortError

SUMMARY_FILE = "extract_summary.json"
PERSON_LINKS = ("private/PERSON_LINKS.parquet", "private/person_links")
PROCEDURE_LINKS = (
    "private/PROCEDURE_OCCURRENCE_LINKS.parquet",
    "private/procedure_occurrence_links",
)
PROCEDURES = ("public/omop/PROCEDURE_OCCURRENCE.parquet", "public/omop/procedure_occurrence")


def read_omop_cohort(path: Path, known_projects: Collection[str] | None = None) -> Cohort:
    """Read and validate a whole OMOP ES extract; CohortError on the first problem."""
    project_name, extract_datetime = _read_summary(path / SUMMARY_FILE)
    slug = ProjectNames(known_projects).slug(
        project_name, str(path / SUMMARY_FILE), None, "settings.cdm_source_name"
    )
    procedures = read_table(
        find_table(path, *PROCEDURES), ("procedure_occurrence_id", "person_id", "procedure_date")
    )
    mrns = _lookup(read_table(find_table(path, *PERSON_LINKS), ("person_id", "PrimaryMrn")))
    study_ids = _lookup(
        read_table(
            find_table(path, *PROCEDURE_LINKS),
            ("procedure_occurrence_id", "AccessionNumber", "StudyUid_X"),
        )
    )
    cleaned = clean_rows(_candidates(procedures, mrns, study_ids, slug, extract_datetime))
    if not cleaned.jobs and not cleaned.skipped:
        raise CohortError(str(procedures.location), "no rows: the extract has no procedures")
    return Cohort(
        source=path,
        jobs=cleaned.jobs,
        skipped=cleaned.skipped,
        duplicates=cleaned.duplicates,
        omop_extract=OmopExtract(
            project_slug=slug,
            extract_datetime=extract_datetime,
            public_dir=path / "public",
            source=path,
        ),
    )


def _read_summary(file: Path) -> tuple[str, datetime]:
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CohortError(str(file), "missing: not an OMOP ES extract directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CohortError(str(file), f"not readable JSON ({error})") from None
    settings = summary.get("settings") if isinstance(summary, dict) else None
    name = settings.get("cdm_source_name") if isinstance(settings, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise CohortError(str(file), "project name missing", column="settings.cdm_source_name")
    try:
        extract_datetime = parse_datetime(summary.get("datetime"))
    except (ValueError, TypeError):
        raise CohortError(
            str(file), "missing or not an ISO-8601 datetime", column="datetime"
        ) from None
    return name.strip(), extract_datetime


def _lookup(table: ParquetTable) -> dict[str, tuple[str, ...]]:
    """Map the first column (an id) to the other columns' cleaned text.

    Repeated identical rows are harmless; an id linked to two different values is ambiguous.
    """
    key_name, *value_names = table.columns
    keys = table.columns[key_name]
    values = [table.columns[name] for name in value_names]
    lookup: dict[str, tuple[str, ...]] = {}
    for index, raw_key in enumerate(keys):
        key = clean_text(raw_key)
        linked = tuple(clean_text(column[index]) for column in values)
        if lookup.setdefault(key, linked) != linked:
            file, row = table.locate(index)
            raise CohortError(
                file, f"{key_name} {key} is linked twice, to different values", row, key_name
            )
    return lookup


def _candidates(
    procedures: ParquetTable,
    mrns: dict[str, tuple[str, ...]],
    study_ids: dict[str, tuple[str, ...]],
    slug: str,
    extract_datetime: datetime,
) -> Iterator[CandidateRow]:
    columns = procedures.columns
    for index, (raw_id, raw_person, raw_date) in enumerate(
        zip(
            columns["procedure_occurrence_id"],
            columns["person_id"],
            columns["procedure_date"],
            strict=True,
        )
    ):
        file, row = procedures.locate(index)
        procedure_id = clean_text(raw_id)
        person_id = clean_text(raw_person)
        (mrn,) = mrns.get(person_id, ("",))
        if not mrn:
            raise CohortError(
                file,
                f"procedure_occurrence_id {procedure_id}: person_id {person_id!r} has no "
                f"PrimaryMrn in {PERSON_LINKS[0]} (or {PERSON_LINKS[1]}/)",
                row,
                "person_id",
            )
        accession, study_uid = study_ids.get(procedure_id, ("", ""))
        yield CandidateRow(
            file=file,
            row=row,
            project_slug=slug,
            extract_datetime=extract_datetime,
            mrn=mrn,
            accession_number=accession,
            study_uid=study_uid,
            series_uids=(),
            study_date=_study_date(raw_date, file, row),
            procedure_occurrence_id=procedure_id,
            participant_id=None,
        )


def _study_date(value: Any, file: str, row: int) -> date | None:
    if value is None or clean_text(value) == "":
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise CohortError(file, f"{value!r} is not a date", row, "procedure_date") from None
