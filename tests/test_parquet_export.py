"""export_extract_parquet: public OMOP tables plus the linker table, to folder and FTPS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from uploaders.conftest import FTPSServer, ftps_server  # noqa: F401 (fixture)

from pixl.cohort.exports import copy_public_omop
from pixl.cohort.model import OmopExtract
from pixl.parquet_export import LINKER_FILE, export_extract_parquet
from pixl.uploaders import FolderUploader, ftps_from_secrets

SLUG = "test-extract"
EXTRACT_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
EXTRACT = "2024-01-02t03-04-05"
LINKS = [(22, "2.25.2222"), (11, "2.25.1111"), (11, "2.25.1111")]
DELIVERED = [
    f"{SLUG}/{EXTRACT}/parquet/omop/public/PROCEDURE_OCCURRENCE.parquet",
    f"{SLUG}/{EXTRACT}/parquet/omop/public/nested/PERSON_LINKS.parquet",
    f"{SLUG}/{EXTRACT}/parquet/radiology/radiology.parquet",
]


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    """EXPORTS with one extract's public tables copied in, as the cohort step does."""
    public = tmp_path / "extract" / "public"
    (public / "nested").mkdir(parents=True)
    pq.write_table(
        pa.table({"procedure_occurrence_id": [11, 22]}), public / "PROCEDURE_OCCURRENCE.parquet"
    )
    pq.write_table(pa.table({"person_id": [1]}), public / "nested" / "PERSON_LINKS.parquet")
    extract = OmopExtract(SLUG, EXTRACT_TIME, public, tmp_path / "extract")
    copy_public_omop(extract, tmp_path / "exports")
    return tmp_path / "exports"


def test_public_tables_and_linker_reach_a_folder_destination(exports: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"

    delivered = export_extract_parquet(exports, SLUG, EXTRACT_TIME, LINKS, FolderUploader(out))

    assert sorted(delivered) == sorted(DELIVERED)
    for relative in delivered:
        assert (out / relative).is_file()
    linker = pq.read_table(out / DELIVERED[2]).to_pylist()
    assert linker == [
        {"procedure_occurrence_id": 11, "pseudo_study_uid": "2.25.1111"},
        {"procedure_occurrence_id": 22, "pseudo_study_uid": "2.25.2222"},
    ]
    kept = exports / SLUG / "all_extracts" / EXTRACT / "radiology" / "radiology.parquet"
    assert kept.read_bytes() == (out / DELIVERED[2]).read_bytes()


def test_running_twice_changes_nothing(exports: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    export_extract_parquet(exports, SLUG, EXTRACT_TIME, LINKS, FolderUploader(out))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}

    export_extract_parquet(exports, SLUG, EXTRACT_TIME, LINKS, FolderUploader(out))

    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_public_tables_and_linker_reach_an_ftps_destination(
    exports: Path,
    ftps_server: FTPSServer,  # noqa: F811
) -> None:
    values = {
        "proj--ftp--host": ftps_server.host,
        "proj--ftp--port": str(ftps_server.port),
        "proj--ftp--username": ftps_server.username,
        "proj--ftp--password": ftps_server.password,
    }
    uploader = ftps_from_secrets(
        "proj", values.__getitem__, ssl_context=ftps_server.client_context()
    )

    export_extract_parquet(exports, SLUG, EXTRACT_TIME, LINKS, uploader)
    export_extract_parquet(exports, SLUG, EXTRACT_TIME, LINKS[:1], uploader)

    files = sorted(
        p.relative_to(ftps_server.home).as_posix()
        for p in (ftps_server.home / SLUG).rglob("*")
        if p.is_file()
    )
    assert files == sorted(DELIVERED)
    linker = pq.read_table(ftps_server.home / DELIVERED[2]).to_pylist()
    assert linker == [{"procedure_occurrence_id": 22, "pseudo_study_uid": "2.25.2222"}]


def test_csv_cohort_without_public_tables_exports_the_linker_alone(tmp_path: Path) -> None:
    delivered = export_extract_parquet(
        tmp_path, SLUG, EXTRACT_TIME, LINKS, FolderUploader(tmp_path / "o")
    )
    assert [path.rsplit("/parquet/", 1)[1] for path in delivered] == [LINKER_FILE]
    assert [p.name for p in (tmp_path / "o").rglob("*.parquet")] == ["radiology.parquet"]
