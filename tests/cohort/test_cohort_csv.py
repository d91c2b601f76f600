"""Reading CSV cohorts: cleaning, de-duplication and errors naming file, row and column."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pixl.cohort import SkippedRow, read_cohort, slugify_project
from pixl.errors import CohortError
from pixl.jobs import StudyJob

HEADER = [
    "procedure_id",
    "mrn",
    "accession_number",
    "project_name",
    "extract_generated_timestamp",
    "study_date",
    "study_uid",
    "participant_id",
    "series_uid",
]
EXTRACT = "2023-01-01T00:01:00Z"


def row(**overrides: str) -> list[str]:
    values = {
        "procedure_id": "11",
        "mrn": "MRN1",
        "accession_number": "ACC1",
        "project_name": "Project A",
        "extract_generated_timestamp": EXTRACT,
        "study_date": "2022-05-06",
        "study_uid": "1.2.3",
        "participant_id": "P1",
        "series_uid": "",
    }
    values.update(overrides)
    return [values[name] for name in HEADER]


def write_csv(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path = tmp_path / "cohort.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_two_projects_are_read_with_their_fields(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            row(),
            row(mrn="MRN2", accession_number="ACC2", project_name="Project B", participant_id=""),
            row(mrn="MRN3", accession_number="ACC3", procedure_id="33"),
        ],
    )

    cohort = read_cohort(path, known_projects=["project-a", "project-b"])

    extract = datetime(2023, 1, 1, 0, 1, tzinfo=UTC)
    assert cohort.projects() == {("project-a", extract): 2, ("project-b", extract): 1}
    first, second, third = cohort.jobs
    assert first.mrn == "MRN1"
    assert first.accession_number == "ACC1"
    assert first.study_uid == "1.2.3"
    assert first.study_date == date(2022, 5, 6)
    assert first.procedure_occurrence_id == "11"
    assert first.participant_id == "P1"
    assert first.series_uids == ()
    assert first.priority == 1
    assert second.project_slug == "project-b"
    assert second.participant_id is None
    assert third.procedure_occurrence_id == "33"
    assert cohort.source == path
    assert cohort.omop_extract is None
    assert all(StudyJob.model_validate(job.model_dump()) == job for job in cohort.jobs)
    assert (cohort.skipped, cohort.duplicates) == ([], 0)


def test_series_uids_are_split_on_backslash(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(series_uid=" 1.2.3.1 \\1.2.3.2\\ ")])

    (job,) = read_cohort(path).jobs

    assert job.series_uids == ("1.2.3.1", "1.2.3.2")


def test_series_uid_column_is_optional(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row()[:-1]], header=HEADER[:-1])

    (job,) = read_cohort(path).jobs

    assert job.series_uids == ()


def test_whitespace_is_stripped_from_every_value(tmp_path: Path) -> None:
    padded = {name: f"  {value}\t" for name, value in zip(HEADER, row(), strict=True)}
    path = write_csv(
        tmp_path,
        [[padded[name] for name in HEADER]],
        header=[" mrn " if h == "mrn" else h for h in HEADER],
    )

    (job,) = read_cohort(path).jobs

    assert (job.mrn, job.accession_number, job.study_uid) == ("MRN1", "ACC1", "1.2.3")
    assert (job.project_slug, job.participant_id) == ("project-a", "P1")
    assert job.study_date == date(2022, 5, 6)


def test_row_without_accession_or_study_uid_is_skipped_and_reported(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [row(), row(mrn="MRN2", accession_number=" ", study_uid=""), row(mrn="MRN3", study_uid="")],
    )

    cohort = read_cohort(path)

    assert [job.mrn for job in cohort.jobs] == ["MRN1", "MRN3"]
    assert len(cohort.skipped) == 1
    assert cohort.skipped[0] == SkippedRow(file=str(path), row=3, reason=cohort.skipped[0].reason)
    assert "accession" in cohort.skipped[0].reason


def test_duplicates_are_dropped_keeping_the_first(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        [
            row(procedure_id="1"),
            row(procedure_id="2", mrn="MRN2"),
            row(procedure_id="3", accession_number=" ACC1 "),
            row(procedure_id="4", project_name="Project B"),
            row(procedure_id="5"),
        ],
    )

    cohort = read_cohort(path)

    assert [job.procedure_occurrence_id for job in cohort.jobs] == ["1", "2", "4"]
    assert cohort.duplicates == 2


def test_row_numbers_are_file_lines_despite_blank_and_multiline_rows(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADER),
        ",".join(row()),
        "",
        '"multi',
        'line",' + ",".join(row(mrn="M2")[1:]),
    ]
    lines.append(",".join(row(mrn="M3", study_date="not-a-date")))
    path = tmp_path / "cohort.csv"
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(CohortError) as caught:
        read_cohort(path)

    assert caught.value.row == 6


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    header = [name for name in HEADER if name != "study_uid"]
    path = write_csv(tmp_path, [row()[:-1]], header=header)

    with pytest.raises(CohortError) as caught:
        read_cohort(path)

    assert caught.value.column == "study_uid"
    assert "study_uid" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("extract_generated_timestamp", "01/02/2023 10:00"),
        ("extract_generated_timestamp", ""),
        ("study_date", "2022-13-01"),
        ("study_date", "yesterday"),
    ],
)
def test_bad_date_names_file_row_and_column(tmp_path: Path, column: str, value: str) -> None:
    path = write_csv(tmp_path, [row(), row(mrn="MRN2", **{column: value})])

    with pytest.raises(CohortError) as caught:
        read_cohort(path)

    assert (caught.value.file, caught.value.row, caught.value.column) == (str(path), 3, column)
    assert f"{path}, row 3, column '{column}'" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-01T00:01:00Z", datetime(2023, 1, 1, 0, 1, tzinfo=UTC)),
        ("2023-01-01 00:01:00", datetime(2023, 1, 1, 0, 1, tzinfo=UTC)),
        ("2023-01-01T02:01:00+02:00", datetime(2023, 1, 1, 0, 1, tzinfo=UTC)),
    ],
)
def test_extract_timestamps_become_aware_utc(tmp_path: Path, text: str, expected: datetime) -> None:
    path = write_csv(tmp_path, [row(extract_generated_timestamp=text)])

    (job,) = read_cohort(path).jobs

    assert job.extract_datetime == expected
    assert job.extract_datetime.tzinfo is UTC


def test_study_date_accepts_a_datetime_and_empty(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, [row(study_date="2022-05-06T23:30:00+01:00"), row(mrn="M2", study_date="")]
    )

    first, second = read_cohort(path).jobs

    assert first.study_date == date(2022, 5, 6)
    assert second.study_date is None


def test_unknown_project_names_row_column_and_known_projects(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(), row(mrn="MRN2", project_name="Other Study")])

    with pytest.raises(CohortError) as caught:
        read_cohort(path, known_projects=["project-a", "project-b"])

    assert (caught.value.row, caught.value.column) == (3, "project_name")
    assert "other-study" in str(caught.value)
    assert "project-a, project-b" in str(caught.value)


def test_empty_mrn_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(mrn="  ")])

    with pytest.raises(CohortError) as caught:
        read_cohort(path)

    assert (caught.value.row, caught.value.column) == (2, "mrn")


def test_wrong_number_of_fields_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row(), row()[:4]])

    with pytest.raises(CohortError) as caught:
        read_cohort(path)

    assert caught.value.row == 3


@pytest.mark.parametrize("content", ["", "\n\n", ",".join(HEADER) + "\n"])
def test_file_without_rows_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cohort.csv"
    path.write_text(content)

    with pytest.raises(CohortError, match="no rows"):
        read_cohort(path)


def test_path_that_is_neither_csv_nor_directory_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cohort.xlsx"
    path.write_bytes(b"PK\x03\x04")

    with pytest.raises(CohortError, match="expected a CSV") as caught:
        read_cohort(path)

    assert caught.value.file == str(path)


def test_slugify_project() -> None:
    assert slugify_project("  My Project (2024) ") == "my-project-2024"
