"""Destinations for de-identified studies and parquet exports, chosen from a table by name.

`make_uploader` builds the DICOM destination of a project (`destination.dicom`) and
`make_parquet_uploader` its parquet destination (`destination.parquet`), each with its
credentials read from secrets `<alias-or-slug>--<destination>--<field>` at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pixl.errors import ConfigError
from pixl.uploaders.base import ParquetUploader, Uploader, zip_study
from pixl.uploaders.dicomweb import DicomWebUploader, dicomweb_from_secrets
from pixl.uploaders.folder import FolderUploader
from pixl.uploaders.ftps import FTPSUploader, ftps_from_secrets
from pixl.uploaders.none import NoneUploader
from pixl.uploaders.sftp import SFTPUploader, sftp_from_secrets
from pixl.uploaders.tre import TreUploader, tre_from_secrets
from pixl.uploaders.xnat import XnatUploader, xnat_from_secrets

if TYPE_CHECKING:
    from pixl.anon.config import ProjectConfig

__all__ = [
    "Destination",
    "DicomWebUploader",
    "FTPSUploader",
    "FolderUploader",
    "NoneUploader",
    "ParquetUploader",
    "SFTPUploader",
    "TreUploader",
    "Uploader",
    "XnatUploader",
    "dicomweb_from_secrets",
    "ftps_from_secrets",
    "make_parquet_uploader",
    "make_uploader",
    "sftp_from_secrets",
    "tre_from_secrets",
    "xnat_from_secrets",
    "zip_study",
]


@dataclass(frozen=True)
class Destination:
    """What a factory may need to build an uploader."""

    alias_or_slug: str
    get_secret: Callable[[str], str]
    output_dir: Path
    project: ProjectConfig | None = None


def _xnat(where: Destination) -> XnatUploader:
    if where.project is None:
        raise ConfigError("destination", "dicom", "'xnat' needs the project config")
    return xnat_from_secrets(
        where.alias_or_slug,
        where.get_secret,
        project_id=where.project.project.name,
        options=where.project.xnat_destination_options,
    )


_DICOM: dict[str, Callable[[Destination], Uploader]] = {
    "none": lambda where: NoneUploader(),
    "folder": lambda where: FolderUploader(where.output_dir),
    "ftps": lambda where: ftps_from_secrets(where.alias_or_slug, where.get_secret),
    "sftp": lambda where: sftp_from_secrets(where.alias_or_slug, where.get_secret),
    "dicomweb": lambda where: dicomweb_from_secrets(where.alias_or_slug, where.get_secret),
    "xnat": _xnat,
    "tre": lambda where: tre_from_secrets(where.alias_or_slug, where.get_secret),
}

_PARQUET: dict[str, Callable[[Destination], ParquetUploader]] = {
    "none": lambda where: NoneUploader(),
    "folder": lambda where: FolderUploader(where.output_dir),
    "ftps": lambda where: ftps_from_secrets(where.alias_or_slug, where.get_secret),
    "sftp": lambda where: sftp_from_secrets(where.alias_or_slug, where.get_secret),
    "tre": lambda where: tre_from_secrets(where.alias_or_slug, where.get_secret),
}


_T = TypeVar("_T")


def _pick(
    table: dict[str, Callable[[Destination], _T]], name: str, field: str
) -> Callable[[Destination], _T]:
    factory = table.get(name)
    if factory is None:
        raise ConfigError(
            source="destination",
            field=field,
            problem=(
                f"'{name}' is not a {field} destination; choose one of {', '.join(sorted(table))}"
            ),
        )
    return factory


def make_uploader(
    destination: str,
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    output_dir: Path,
    *,
    project: ProjectConfig | None = None,
) -> Uploader:
    """The uploader for a project's `destination.dicom`, with its credentials read now.

    `project` is needed by `xnat` (project ID and `xnat_destination_options`)."""
    factory = _pick(_DICOM, destination, "dicom")
    return factory(Destination(alias_or_slug, get_secret, output_dir, project))


def make_parquet_uploader(
    destination: str,
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    output_dir: Path,
) -> ParquetUploader:
    """The uploader for a project's `destination.parquet`, with its credentials read now."""
    factory = _pick(_PARQUET, destination, "parquet")
    return factory(Destination(alias_or_slug, get_secret, output_dir))
