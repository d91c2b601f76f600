"""Copying an extract's public tables to the exports folder and the `latest` link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from pixl.cohort import OmopExtract, copy_public_omop, extract_datetime_slug

EARLY = datetime(2020, 6, 10, 18, 0, tzinfo=UTC)
LATE = datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_extract(tmp_path: Path, when: datetime, content: str = "v1") -> OmopExtract:
    source = tmp_path / f"extract-{extract_datetime_slug(when)}"
    (source / "public/omop").mkdir(parents=True)
    (source / "public/omop/PROCEDURE_OCCURRENCE.parquet").write_text(content)
    return OmopExtract("project-a", when, source / "public", source)


def test_extract_datetime_slug_is_utc_and_path_safe() -> None:
    assert extract_datetime_slug(EARLY) == "2020-06-10t18-00-00"
    plus_two = EARLY.astimezone(timezone(timedelta(hours=2)))
    assert extract_datetime_slug(plus_two) == "2020-06-10t18-00-00"
    assert extract_datetime_slug(datetime(2020, 6, 10, 18)) == "2020-06-10t18-00-00"


def test_public_tree_is_copied_under_the_extract_datetime(tmp_path: Path) -> None:
    exports = tmp_path / "exports"

    copied = copy_public_omop(make_extract(tmp_path, EARLY), exports)

    assert copied == exports / "project-a/all_extracts/2020-06-10t18-00-00/omop/public"
    assert (copied / "omop/PROCEDURE_OCCURRENCE.parquet").read_text() == "v1"
    latest = exports / "project-a/latest"
    assert latest.is_symlink()
    assert str(latest.readlink()) == "all_extracts/2020-06-10t18-00-00"
    assert (latest / "omop/public/omop/PROCEDURE_OCCURRENCE.parquet").read_text() == "v1"


def test_copying_again_replaces_the_earlier_copy_cleanly(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    extract = make_extract(tmp_path, EARLY)
    copied = copy_public_omop(extract, exports)
    (copied / "stale.txt").write_text("left over")
    (extract.public_dir / "omop/PROCEDURE_OCCURRENCE.parquet").write_text("v2")

    again = copy_public_omop(extract, exports)

    assert again == copied
    assert (again / "omop/PROCEDURE_OCCURRENCE.parquet").read_text() == "v2"
    assert not (again / "stale.txt").exists()
    assert [entry.name for entry in again.parent.iterdir()] == ["public"]


def test_latest_moves_forward_but_not_backward(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    latest = exports / "project-a/latest"
    copy_public_omop(make_extract(tmp_path, EARLY), exports)

    copy_public_omop(make_extract(tmp_path, LATE, "late"), exports)
    assert str(latest.readlink()) == "all_extracts/2021-01-02t03-04-05"

    copy_public_omop(make_extract(tmp_path / "again", EARLY, "early again"), exports)
    assert str(latest.readlink()) == "all_extracts/2021-01-02t03-04-05"
    early = exports / "project-a/all_extracts/2020-06-10t18-00-00/omop/public/omop"
    assert (early / "PROCEDURE_OCCURRENCE.parquet").read_text() == "early again"
    assert sorted(entry.name for entry in (exports / "project-a").iterdir()) == [
        "all_extracts",
        "latest",
    ]
