"""Export of an extract's parquet files to the project's parquet destination.

What goes: the extract's public OMOP tables (copied earlier by
`pixl.cohort.exports.copy_public_omop` to `EXPORTS/<slug>/all_extracts/<extract>/omop/public/`)
and a linker table `procedure_occurrence_id -> pseudo_study_uid`, written next to them as
`radiology/radiology.parquet`. Where: `<slug>/<extract>/parquet/{omop/public/...,
radiology/radiology.parquet}` at the destination. Running it again rewrites the same files.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pixl.cohort.exports import ALL_EXTRACTS
from pixl.cohort.values import extract_datetime_slug
from pixl.uploaders.base import ParquetUploader, parquet_path

log = logging.getLogger(__name__)

PUBLIC_DIR = "omop/public"
LINKER_FILE = "radiology/radiology.parquet"


def write_linker(rows: Sequence[tuple[int | str, str]], target: Path) -> Path:
    """Write the linker table, sorted by procedure occurrence, replacing `target` whole.

    OMOP's procedure occurrence ids are integers; a CSV cohort may carry other ids, and
    then the column is text rather than losing them.
    """
    pairs = {(str(procedure), str(uid)) for procedure, uid in rows}
    numeric = all(procedure.lstrip("-").isdigit() for procedure, _ in pairs)
    ordered = sorted(pairs, key=lambda pair: (int(pair[0]) if numeric else pair[0], pair[1]))
    ids = [int(p) if numeric else p for p, _ in ordered]
    uids = [uid for _, uid in ordered]
    id_type = pa.int64() if numeric else pa.string()
    schema = pa.schema([("procedure_occurrence_id", id_type), ("pseudo_study_uid", pa.string())])
    table = pa.table({"procedure_occurrence_id": ids, "pseudo_study_uid": uids}, schema=schema)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, staging)
    os.replace(staging, target)
    return target


def export_extract_parquet(
    exports_dir: Path,
    project_slug: str,
    extract_datetime: datetime,
    linker_rows: Sequence[tuple[int | str, str]],
    uploader: ParquetUploader,
) -> list[str]:
    """Deliver the extract's public OMOP files and its linker table; returns the paths
    delivered, relative to the destination (`<slug>/<extract>/parquet/...`).

    A CSV cohort has no public OMOP tables: then the linker table goes alone.
    """
    extract = extract_datetime_slug(extract_datetime)
    base = exports_dir / project_slug / ALL_EXTRACTS / extract
    public = base / PUBLIC_DIR
    tables = sorted(path for path in public.rglob("*.parquet") if path.is_file())
    linker = write_linker(linker_rows, base / LINKER_FILE)
    files = [(path, path.relative_to(base).as_posix()) for path in tables]
    files.append((linker, LINKER_FILE))
    location = uploader.upload_parquet(project_slug, extract, files)
    log.info(
        "exported parquet project=%s extract=%s files=%d studies=%d to %s",
        project_slug,
        extract,
        len(files),
        len(linker_rows),
        location,
    )
    return [parquet_path(project_slug, extract, relative) for _, relative in files]
