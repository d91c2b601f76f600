"""Hypothesis-generated cohort files: whatever the bytes, pixl either enqueues the whole
file or stops with an error naming the file, and then nothing at all is recorded or sent."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from pixl.demo import REPO_PROJECTS
from pixl.enqueue import enqueue_cohort
from pixl.errors import PixlError
from pixl.records import Extract, Study, migrate, session_scope
from pixl.settings import get_settings

HEADER = [
    "procedure_id", "mrn", "accession_number", "project_name",
    "extract_generated_timestamp", "study_date", "study_uid", "participant_id", "series_uid",
]  # fmt: skip
GOOD = ["1", "MRN1", "ACC1", "demo-xray", "2026-01-02T03:04:05Z", "2025-12-01", "1.2.3", "", ""]

cell = st.one_of(
    st.sampled_from(["", " ", "demo-xray", "demo-ct-mr", "nope", "2026-01-02", "2026-13-45",
                     "1.2.3", "\\", "ACC", "MRN", "x" * 300]),
    st.text(max_size=20),
)  # fmt: skip
row = st.lists(cell, min_size=0, max_size=11)


@pytest.fixture
def records_db(isolated_settings: None, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PIXL_PROJECTS_DIR", str(REPO_PROJECTS))
    get_settings.cache_clear()
    migrate()
    return get_settings()


def _empty_records() -> None:
    with session_scope() as session:
        session.execute(delete(Study))
        session.execute(delete(Extract))


def _check(path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    _empty_records()
    published: list[tuple[int, int]] = []
    try:
        summary = enqueue_cohort(path, settings, lambda *a: published.append(a))
    except PixlError as error:
        assert path.name in str(error) or "project" in str(error)
        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(Study)) == 0
        assert published == []
        return
    with session_scope() as session:
        recorded = session.scalar(select(func.count()).select_from(Study))
    assert recorded == summary.published == len(published)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.one_of(row, st.just(GOOD)), max_size=8), header=st.booleans())
def test_any_csv_is_enqueued_whole_or_not_at_all(
    tmp_path: Path, records_db, rows: list[list[str]], header: bool
) -> None:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(HEADER)
    writer.writerows(rows)
    path = tmp_path / "cohort.csv"
    path.write_text(buffer.getvalue())
    _check(path, records_db)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_any_bytes_in_a_csv_or_parquet_file_give_a_clear_error(
    tmp_path: Path, records_db, data: bytes
) -> None:  # type: ignore[no-untyped-def]
    csv_path = tmp_path / "cohort.csv"
    csv_path.write_bytes(b",".join(h.encode() for h in HEADER) + b"\n" + data)
    _check(csv_path, records_db)
    extract = tmp_path / "omop"
    (extract / "private").mkdir(parents=True, exist_ok=True)
    (extract / "extract_summary.json").write_bytes(data)
    (extract / "private" / "PERSON_LINKS.parquet").write_bytes(data)
    _check(extract, records_db)
