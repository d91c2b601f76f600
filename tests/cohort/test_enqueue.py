"""Enqueueing a cohort: everything validated before anything is recorded or published,
batches recorded as pending then queued, and already-exported studies never sent again.

The publish step is a recording function here: these tests are about what is validated
and recorded. Queues, routing and workers are exercised in test_pipeline_e2e.py.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from pixl.cohort import write_omop_extract
from pixl.demo import REPO_PROJECTS
from pixl.enqueue import enqueue_cohort
from pixl.errors import CohortError, ConfigError
from pixl.records import Study, StudyStatus, migrate, session_scope
from pixl.settings import get_settings

HEADER = [
    "procedure_id", "mrn", "accession_number", "project_name",
    "extract_generated_timestamp", "study_date", "study_uid", "participant_id",
]  # fmt: skip


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def cohort_rows(count: int, project: str = "demo-xray") -> list[list[str]]:
    return [
        [str(i), f"MRN{i:05d}", f"ACC{i:05d}", project, "2026-01-02T03:04:05Z", "2025-12-01",
         f"1.2.826.0.1.{i}", ""]
        for i in range(1, count + 1)
    ]  # fmt: skip


@pytest.fixture
def settings(isolated_settings: None, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PIXL_PROJECTS_DIR", str(REPO_PROJECTS))
    get_settings.cache_clear()
    migrate()
    return get_settings()


def study_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Study)) or 0)


def test_two_projects_recorded_queued_and_published(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    rows = cohort_rows(3, "demo-xray") + cohort_rows(2, "Demo CT MR")
    published: list[tuple[int, int]] = []
    summary = enqueue_cohort(
        write_csv(tmp_path / "c.csv", rows), settings, lambda *a: published.append(a)
    )
    assert {(e.project_slug, e.published) for e in summary.extracts} == {
        ("demo-xray", 3),
        ("demo-ct-mr", 2),
    }
    assert len(published) == 5 == len({study_id for study_id, _ in published})
    with session_scope() as session:
        statuses = set(session.scalars(select(Study.status)))
    assert statuses == {StudyStatus.QUEUED}


def test_enqueue_twice_publishes_only_what_is_new_or_unpublished(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    cohort = write_csv(tmp_path / "c.csv", cohort_rows(4))
    first: list[tuple[int, int]] = []
    enqueue_cohort(cohort, settings, lambda *a: first.append(a))
    # Two studies got exported; one stays pending as if the publisher crashed before queueing.
    with session_scope() as session:
        session.execute(
            update(Study)
            .where(Study.id.in_([first[0][0], first[1][0]]))
            .values(status=StudyStatus.EXPORTED)
        )
        session.execute(
            update(Study).where(Study.id == first[2][0]).values(status=StudyStatus.PENDING)
        )
    second: list[tuple[int, int]] = []
    summary = enqueue_cohort(cohort, settings, lambda *a: second.append(a))
    assert [study_id for study_id, _ in second] == [first[2][0]]
    (extract,) = summary.extracts
    assert (extract.already_exported, extract.already_known, extract.published) == (2, 1, 1)
    assert study_count() == 4


def test_exported_in_an_earlier_extract_is_not_fetched_again(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    rows = cohort_rows(2)
    first: list[tuple[int, int]] = []
    enqueue_cohort(write_csv(tmp_path / "a.csv", rows), settings, lambda *a: first.append(a))
    with session_scope() as session:
        session.execute(update(Study).values(status=StudyStatus.EXPORTED))
    for row in rows:
        row[4] = "2026-02-01T00:00:00Z"  # a newer extract of the same project
    later: list[tuple[int, int]] = []
    summary = enqueue_cohort(
        write_csv(tmp_path / "b.csv", rows), settings, lambda *a: later.append(a)
    )
    assert later == []
    assert summary.extracts[0].already_exported == 2


def test_dry_run_counts_and_records_nothing(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    cohort = write_csv(tmp_path / "c.csv", cohort_rows(3) + cohort_rows(1, "demo-ct-mr"))
    result = subprocess.run(
        [sys.executable, "-m", "pixl", "enqueue", "--dry-run", str(cohort)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "demo-xray 2026-01-02T03:04:05+00:00: would enqueue 3" in result.stdout
    assert "total: would enqueue 4 of 4 studies" in result.stdout
    assert study_count() == 0


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        ([*cohort_rows(1), ["2", "MRN2", "ACC2", "demo-xray", "yesterday", "2025-12-01", "", ""]],
         HEADER, "row 3, column 'extract_generated_timestamp'"),
        (cohort_rows(2), [*HEADER[:-2], "participant_id"], "study_uid"),
        (cohort_rows(1) + cohort_rows(1, "no such project"), HEADER, "column 'project_name'"),
    ],
    ids=["bad-date", "missing-column", "unknown-project"],
)  # fmt: skip
def test_malformed_csv_names_the_place_and_records_nothing(
    tmp_path: Path, settings, rows: list[list[str]], header: list[str], expected: str
) -> None:  # type: ignore[no-untyped-def]
    cohort = write_csv(tmp_path / "bad.csv", [r[: len(header)] for r in rows], header)
    published: list[tuple[int, int]] = []
    with pytest.raises(CohortError) as error:
        enqueue_cohort(cohort, settings, lambda *a: published.append(a))
    assert "bad.csv" in str(error.value) and expected in str(error.value)
    assert published == [] and study_count() == 0


def test_cli_reports_bad_input_without_traceback(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    cohort = write_csv(tmp_path / "bad.csv", [["1", "MRN1", "ACC1", "demo-xray", "x", "", "", ""]])
    result = subprocess.run(
        [sys.executable, "-m", "pixl", "enqueue", str(cohort)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert "row 2" in result.stderr and "extract_generated_timestamp" in result.stderr
    assert study_count() == 0


def test_malformed_parquet_records_nothing(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    extract = write_omop_extract(
        tmp_path / "omop", "demo-xray", __import__("datetime").datetime(2026, 1, 2),
        [{"mrn": "M1", "accession_number": "A1", "study_uid": "1.2.3",
          "procedure_occurrence_id": 1, "study_date": "2025-01-01"}],
    )  # fmt: skip
    links = extract / "private" / "PROCEDURE_OCCURRENCE_LINKS.parquet"
    links.write_bytes(b"not a parquet file")
    with pytest.raises(CohortError) as error:
        enqueue_cohort(extract, settings, lambda *a: None)
    assert "PROCEDURE_OCCURRENCE_LINKS.parquet" in str(error.value)
    assert study_count() == 0


def test_omop_extract_enqueues_and_copies_public_files(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from datetime import datetime

    extract = write_omop_extract(
        tmp_path / "omop", "demo-xray", datetime(2026, 1, 2, 3, 4, 5),
        [{"mrn": f"M{i}", "accession_number": f"A{i}", "study_uid": f"1.2.3.{i}",
          "procedure_occurrence_id": i, "study_date": "2025-01-01"} for i in range(1, 4)],
    )  # fmt: skip
    published: list[tuple[int, int]] = []
    enqueue_cohort(extract, settings, lambda *a: published.append(a))
    assert len(published) == 3
    latest = settings.exports_dir / "demo-xray" / "latest"
    assert latest.is_symlink()
    assert (latest / "omop" / "public" / "omop" / "PROCEDURE_OCCURRENCE.parquet").exists() or any(
        latest.rglob("PROCEDURE_OCCURRENCE.parquet")
    )


def test_malformed_project_config_records_nothing(tmp_path: Path, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    projects = tmp_path / "projects"
    (projects / "tag-operations").mkdir(parents=True)
    (projects / "tag-operations" / "base.yaml").write_text(
        (REPO_PROJECTS / "tag-operations" / "base.yaml").read_text()
    )
    (projects / "broken.yaml").write_text(
        "project: {name: broken, modalities: [CT]}\n"
        "tag_operation_files: {base: [base.yaml]}\n"
        "destination: {dicom: carrier-pigeon, parquet: none}\n"
    )
    monkeypatch.setenv("PIXL_PROJECTS_DIR", str(projects))
    get_settings.cache_clear()
    cohort = write_csv(tmp_path / "c.csv", cohort_rows(2, "broken"))
    with pytest.raises(ConfigError) as error:
        enqueue_cohort(cohort, get_settings(), lambda *a: None)
    assert "broken.yaml" in str(error.value) and "destination.dicom" in str(error.value)
    assert study_count() == 0
