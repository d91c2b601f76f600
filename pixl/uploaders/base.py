"""The destination interface every uploader implements, and what they share: the zip
helper, secret names, credential hints."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Protocol

from pixl.errors import ConfigError

# A fixed timestamp and mode make the zip of the same files byte-identical every time, so
# its size tells whether a study already delivered is the one about to be delivered.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o644 << 16
# Deflate level 1: on DICOM pixel data about as small as the default level 6, twice as fast
# (56 against 26 MB/s, benchmarks/bench_upload.py), and zipping is the slowest step.
_ZIP_LEVEL = 1


class Uploader(Protocol):
    """Delivers one de-identified study to a project's destination, idempotently."""

    name: str

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        """Deliver the study unless it is already there; return where it is, for people."""
        ...

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        """Whether a complete copy of the study is already at the destination."""
        ...


class ParquetUploader(Protocol):
    """Delivers an extract's parquet files (PIXL's layout), idempotently."""

    name: str

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        """Deliver each `(file, relative path)` to `<slug>/<extract-datetime>/parquet/<relative
        path>`, skipping files already there whole; return where they are, for people."""
        ...


def zip_study(files: list[Path], pseudo_study_uid: str) -> Path:
    """Zip `files` flat, sorted by name, into a temporary file the caller deletes.

    Raises ValueError when two files share a name: they would overwrite each other.
    """
    by_name = {path.name: path for path in files}
    if len(by_name) != len(files):
        raise ValueError(f"study {pseudo_study_uid}: two files share a name")
    return zip_files([(path, name) for name, path in by_name.items()], pseudo_study_uid)


def zip_files(entries: list[tuple[Path, str]], label: str) -> Path:
    """Zip `(file, name inside the zip)` entries, sorted by name, into a temporary file the
    caller deletes. The same entries always give the same bytes."""
    handle, name = tempfile.mkstemp(prefix=f"{label}-", suffix=".zip")
    zip_path = Path(name)
    try:
        with open(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for path, arcname in sorted(entries, key=lambda entry: entry[1]):
                info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIMESTAMP)
                info.external_attr = _ZIP_MODE
                archive.writestr(
                    info, path.read_bytes(), zipfile.ZIP_DEFLATED, compresslevel=_ZIP_LEVEL
                )
    except BaseException:
        zip_path.unlink(missing_ok=True)
        raise
    return zip_path


def parquet_path(project_slug: str, extract_datetime_slug: str, relative: str) -> str:
    """Where a parquet file of an extract goes: `<slug>/<extract-datetime>/parquet/<relative>`."""
    clean = PurePosixPath(relative)
    if clean.is_absolute() or ".." in clean.parts:
        raise ValueError(f"parquet path '{relative}' must be relative and stay inside the extract")
    return f"{project_slug}/{extract_datetime_slug}/parquet/{clean}"


def destination_secret(alias_or_slug: str, destination: str, field: str) -> str:
    """A destination's secret name, `<alias-or-slug>--<destination>--<field>` as in PIXL."""
    return f"{alias_or_slug}--{destination}--{field}"


def credentials_hint(alias_or_slug: str, destination: str) -> str:
    """What an authentication error tells the operator to check (names, never values)."""
    username = destination_secret(alias_or_slug, destination, "username")
    password = destination_secret(alias_or_slug, destination, "password")
    return f"secrets '{username}' and '{password}'"


def read_secrets(
    alias_or_slug: str, destination: str, fields: Iterable[str], get_secret: Callable[[str], str]
) -> dict[str, str]:
    """The destination's secrets by field name."""
    return {f: get_secret(destination_secret(alias_or_slug, destination, f)) for f in fields}


def port_from_secret(alias_or_slug: str, destination: str, value: str) -> int:
    """The `port` secret as a number, or a ConfigError naming the secret."""
    try:
        return int(value)
    except ValueError:
        secret = destination_secret(alias_or_slug, destination, "port")
        raise ConfigError(
            source=f"secret '{secret}'", field=None, problem="is not a port number"
        ) from None
