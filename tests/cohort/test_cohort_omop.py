"""Reading OMOP ES extracts, single-file and partitioned, and their errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pixl.cohort import read_cohort, write_omop_extract
from pixl.errors import CohortError

EXTRACT = datetime(2023, 12, 7, 14, 8, 58, tzinfo=UTC)


def study(number: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mrn": f"MRN{number}",
        "accession_number": f"ACC{number}",
        "study_uid": f"1.2.3.{number}",
        "procedure_occurrence_id": str(100 + number),
        "study_date": date(2022, 1, number),
    }
    values.update(overrides)
    return values


def write_extract(tmp_path: Path, rows: list[dict[str, Any]], **kwargs: Any) -> Path:
    return write_omop_extract(tmp_path / "extract", "Project A", EXTRACT, rows, **kwargs)


@pytest.mark.parametrize("partitioned", [False, True])
def test_extract_is_joined_into_jobs(tmp_path: Path, partitioned: bool) -> None:
    rows = [study(1), study(2), study(3, mrn="MRN1"), study(4, study_date=None)]
    folder = write_extract(tmp_path, rows, partitioned=partitioned, rows_per_part=3)

    cohort = read_cohort(folder, known_projects=["project-a"])

    assert [
        (j.mrn, j.accession_number, j.study_uid, j.procedure_occurrence_id) for j in cohort.jobs
    ] == [
        ("MRN1", "ACC1", "1.2.3.1", "101"),
        ("MRN2", "ACC2", "1.2.3.2", "102"),
        ("MRN1", "ACC3", "1.2.3.3", "103"),
        ("MRN4", "ACC4", "1.2.3.4", "104"),
    ]
    assert [job.study_date for job in cohort.jobs] == [
        date(2022, 1, 1),
        date(2022, 1, 2),
        date(2022, 1, 3),
        None,
    ]
    assert cohort.projects() == {("project-a", EXTRACT): 4}
    assert cohort.omop_extract is not None
    assert cohort.omop_extract.project_slug == "project-a"
    assert cohort.omop_extract.extract_datetime == EXTRACT
    assert cohort.omop_extract.public_dir == folder / "public"
    assert cohort.omop_extract.source == folder


def test_partitioned_extract_is_written_and_read_as_part_files(tmp_path: Path) -> None:
    folder = write_extract(
        tmp_path, [study(n) for n in range(1, 6)], partitioned=True, rows_per_part=2
    )

    parts = sorted((folder / "public/omop/procedure_occurrence").glob("part-*.parquet"))
    assert len(parts) == 3
    assert not (folder / "public/omop/PROCEDURE_OCCURRENCE.parquet").exists()
    assert len(read_cohort(folder).jobs) == 5


def test_procedure_without_links_is_skipped_and_duplicates_counted(tmp_path: Path) -> None:
    folder = write_extract(
        tmp_path,
        [
            study(1),
            study(2, accession_number="", study_uid=""),
            study(3, accession_number="ACC1", study_uid="1.2.3.1", mrn="MRN1"),
        ],
    )

    cohort = read_cohort(folder)

    assert [job.procedure_occurrence_id for job in cohort.jobs] == ["101"]
    assert cohort.duplicates == 1
    (skipped,) = cohort.skipped
    assert skipped.file == str(folder / "public/omop/PROCEDURE_OCCURRENCE.parquet")
    assert skipped.row == 2


def test_text_file_named_parquet_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, [study(1)])
    links = folder / "private/PERSON_LINKS.parquet"
    links.write_text("person_id,PrimaryMrn\n1,MRN1\n")

    with pytest.raises(CohortError, match="not a readable parquet file") as caught:
        read_cohort(folder)

    assert caught.value.file == str(links)


def test_missing_parquet_column_is_named(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, [study(1)])
    links = folder / "private/PROCEDURE_OCCURRENCE_LINKS.parquet"
    pq.write_table(pq.read_table(links).drop_columns(["StudyUid_X"]), links)

    with pytest.raises(CohortError) as caught:
        read_cohort(folder)

    assert (caught.value.file, caught.value.column) == (str(links), "StudyUid_X")


def test_missing_table_is_an_error(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, [study(1)])
    (folder / "private/PERSON_LINKS.parquet").unlink()

    with pytest.raises(CohortError, match="person_links"):
        read_cohort(folder)


def test_procedure_without_person_link_names_part_file_row_and_procedure(tmp_path: Path) -> None:
    folder = write_extract(
        tmp_path, [study(n) for n in range(1, 6)], partitioned=True, rows_per_part=2
    )
    person_part = folder / "private/person_links/part-00001.parquet"
    table = pq.read_table(person_part)
    pq.write_table(table.filter(pc.not_equal(table["PrimaryMrn"], "MRN4")), person_part)

    with pytest.raises(CohortError) as caught:
        read_cohort(folder)

    assert caught.value.file == str(folder / "public/omop/procedure_occurrence/part-00001.parquet")
    assert (caught.value.row, caught.value.column) == (2, "person_id")
    assert "procedure_occurrence_id 104" in str(caught.value)


def test_person_linked_to_two_mrns_is_an_error(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, [study(1), study(2)])
    links = folder / "private/PERSON_LINKS.parquet"
    pq.write_table(
        pa.table({"person_id": [1, 2, 1], "PrimaryMrn": ["MRN1", "MRN2", "OTHER"]}), links
    )

    with pytest.raises(CohortError, match="linked twice") as caught:
        read_cohort(folder)

    assert (caught.value.file, caught.value.row) == (str(links), 3)


def test_unknown_project_in_summary_is_an_error(tmp_path: Path) -> None:
    folder = write_extract(tmp_path, [study(1)])

    with pytest.raises(CohortError, match="known projects: project-b") as caught:
        read_cohort(folder, known_projects=["project-b"])

    assert caught.value.column == "settings.cdm_source_name"


@pytest.mark.parametrize(
    ("summary", "column"),
    [
        ({"settings": {}, "datetime": "2023-12-07 14:08:58"}, "settings.cdm_source_name"),
        ({"settings": {"cdm_source_name": "A"}, "datetime": "last week"}, "datetime"),
    ],
)
def test_bad_summary_names_the_field(tmp_path: Path, summary: dict[str, Any], column: str) -> None:
    folder = write_extract(tmp_path, [study(1)])
    (folder / "extract_summary.json").write_text(json.dumps(summary))

    with pytest.raises(CohortError) as caught:
        read_cohort(folder)

    assert caught.value.column == column
    assert caught.value.file == str(folder / "extract_summary.json")


def test_directory_without_summary_is_not_an_extract(tmp_path: Path) -> None:
    with pytest.raises(CohortError, match="not an OMOP ES extract"):
        read_cohort(tmp_path)
