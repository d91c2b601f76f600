"""Writing a small OMOP ES extract, in the layout `read_cohort` reads (for demos and tests)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pixl.cohort.omop import PERSON_LINKS, PROCEDURE_LINKS, PROCEDURES, SUMMARY_FILE
from pixl.cohort.values import parse_date


def write_omop_extract(
    folder: Path,
    project_name: str,
    extract_datetime: datetime,
    rows: Iterable[Mapping[str, Any]],
    partitioned: bool = False,
    rows_per_part: int = 50_000,
) -> Path:
    """Write an extract of `rows` (dicts with mrn, accession_number, study_uid,
    procedure_occurrence_id, study_date) to `folder`; one person per distinct MRN.

    `partitioned` writes folders of part-*.parquet files of `rows_per_part` rows each,
    as large extracts come, instead of one file per table. Returns `folder`.
    """
    rows = list(rows)
    person_ids: dict[str, int] = {}
    for row in rows:
        person_ids.setdefault(str(row["mrn"]), len(person_ids) + 1)
    procedure_ids = _ids([str(row["procedure_occurrence_id"]) for row in rows])
    procedures = pa.table(
        {
            "procedure_occurrence_id": procedure_ids,
            "person_id": pa.array([person_ids[str(row["mrn"])] for row in rows], pa.int64()),
            "procedure_date": pa.array(
                [parse_date(row["study_date"]) if row.get("study_date") else None for row in rows],
                pa.date32(),
            ),
        }
    )
    person_links = pa.table(
        {
            "person_id": pa.array(list(person_ids.values()), pa.int64()),
            "PrimaryMrn": pa.array(list(person_ids), pa.string()),
        }
    )
    procedure_links = pa.table(
        {
            "procedure_occurrence_id": procedure_ids,
            "AccessionNumber": pa.array([row.get("accession_number", "") for row in rows]),
            "StudyUid_X": pa.array([row.get("study_uid", "") for row in rows], pa.string()),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "settings": {"cdm_source_name": project_name},
        "datetime": extract_datetime.isoformat(),
    }
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for table, (single_file, part_folder) in (
        (procedures, PROCEDURES),
        (person_links, PERSON_LINKS),
        (procedure_links, PROCEDURE_LINKS),
    ):
        if partitioned:
            _write_parts(table, folder / part_folder, rows_per_part)
        else:
            (folder / single_file).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / single_file)
    return folder


def _ids(values: list[str]) -> pa.Array:
    """Procedure ids as OMOP stores them (integers) when they are all numeric, else text."""
    if all(value.isdigit() for value in values):
        return pa.array([int(value) for value in values], pa.int64())
    return pa.array(values, pa.string())


def _write_parts(table: pa.Table, part_folder: Path, rows_per_part: int) -> None:
    part_folder.mkdir(parents=True, exist_ok=True)
    for stale in part_folder.glob("part-*.parquet"):
        stale.unlink()
    for number, start in enumerate(range(0, max(table.num_rows, 1), rows_per_part)):
        pq.write_table(
            table.slice(start, rows_per_part), part_folder / f"part-{number:05d}.parquet"
        )
