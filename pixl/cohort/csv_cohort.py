"""Reading a cohort from a CSV file, one study per row."""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from pixl.cohort.cleaning import CandidateRow, ProjectNames, clean_rows
from pixl.cohort.model import Cohort
from pixl.cohort.values import parse_date, parse_datetime
from pixl.errors import CohortError

REQUIRED_COLUMNS = (
    "procedure_id",
    "mrn",
    "accession_number",
    "project_name",
    "extract_generated_timestamp",
    "study_date",
    "study_uid",
    "participant_id",
)
SERIES_COLUMN = "series_uid"
SERIES_SEPARATOR = "\\"

T = TypeVar("T")


class _Parsed(dict[str, T]):
    """Parses each distinct text once: cohorts repeat the same few timestamps and dates."""

    def __init__(self, parse: Callable[[str], T], expected: str, file: str, column: str) -> None:
        super().__init__()
        self._parse = parse
        self._expected = expected
        self._file = file
        self._column = column

    def get_for(self, text: str, row: int) -> T:
        value = self.get(text)
        if value is None:
            try:
                value = self._parse(text)
            except ValueError:
                found = f"{text!r} is not" if text else "empty; expected"
                raise CohortError(
                    self._file, f"{found} {self._expected}", row, self._column
                ) from None
            self[text] = value
        return value


def _records(path: Path, file: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line number each starts on (the header is line 1)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            start = 1
            for record in reader:
                if any(cell.strip() for cell in record):
                    yield start, record
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise CohortError(file, "not a UTF-8 text CSV file") from None
    except csv.Error as error:
        raise CohortError(file, f"malformed CSV ({error})", start) from None


def read_csv_cohort(path: Path, known_projects: Collection[str] | None = None) -> Cohort:
    """Read and validate a whole CSV cohort; CohortError on the first bad value."""
    file = str(path)
    records = _records(path, file)
    header_row = next(records, None)
    if header_row is None:
        raise CohortError(file, "no rows: the file is empty")
    header = [name.strip().lower() for name in header_row[1]]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CohortError(
            file,
            f"missing required column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED_COLUMNS)} and optionally {SERIES_COLUMN}",
            row=1,
            column=missing[0],
        )
    rows = list(_candidates(records, header, file, ProjectNames(known_projects)))
    if not rows:
        raise CohortError(file, "no rows: the file has a header but no data")
    cleaned = clean_rows(rows)
    return Cohort(
        source=path, jobs=cleaned.jobs, skipped=cleaned.skipped, duplicates=cleaned.duplicates
    )


def _candidates(
    records: Iterator[tuple[int, list[str]]], header: list[str], file: str, projects: ProjectNames
) -> Iterator[CandidateRow]:
    index = {
        name: header.index(name) for name in (*REQUIRED_COLUMNS, SERIES_COLUMN) if name in header
    }
    series_at = index.get(SERIES_COLUMN)
    extract_times = _Parsed[datetime](
        parse_datetime, "an ISO-8601 datetime", file, "extract_generated_timestamp"
    )
    study_dates = _Parsed[date](parse_date, "an ISO-8601 date", file, "study_date")
    for row, record in records:
        if len(record) != len(header):
            raise CohortError(
                file, f"expected {len(header)} fields as in the header, found {len(record)}", row
            )
        values = [cell.strip() for cell in record]
        mrn = values[index["mrn"]]
        if not mrn:
            raise CohortError(file, "mrn is empty", row, "mrn")
        slug = projects.slug(values[index["project_name"]], file, row, "project_name")
        study_date_text = values[index["study_date"]]
        series = values[series_at].split(SERIES_SEPARATOR) if series_at is not None else []
        yield CandidateRow(
            file=file,
            row=row,
            project_slug=slug,
            extract_datetime=extract_times.get_for(
                values[index["extract_generated_timestamp"]], row
            ),
            mrn=mrn,
            accession_number=values[index["accession_number"]],
            study_uid=values[index["study_uid"]],
            series_uids=tuple(uid.strip() for uid in series if uid.strip()),
            study_date=study_dates.get_for(study_date_text, row) if study_date_text else None,
            procedure_occurrence_id=values[index["procedure_id"]],
            participant_id=values[index["participant_id"]] or None,
        )
