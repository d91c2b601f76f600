"""Destinations for de-identified studies. `make_uploader` picks one from a project config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pixl.errors import ConfigError
from pixl.uploaders.base import Uploader, zip_study
from pixl.uploaders.folder import FolderUploader
from pixl.uploaders.ftps import FTPSUploader, ftps_from_secrets
from pixl.uploaders.none import NoneUploader

__all__ = [
    "FTPSUploader",
    "FolderUploader",
    "NoneUploader",
    "Uploader",
    "ftps_from_secrets",
    "make_uploader",
    "zip_study",
]

_Factory = Callable[[str, Callable[[str], str], Path], Uploader]

_FACTORIES: dict[str, _Factory] = {
    "none": lambda alias, get_secret, output_dir: NoneUploader(),
    "folder": lambda alias, get_secret, output_dir: FolderUploader(output_dir),
    "ftps": lambda alias, get_secret, output_dir: ftps_from_secrets(alias, get_secret),
}
_PLANNED = ("sftp", "dicomweb", "xnat", "tre")


def make_uploader(
    destination: str,
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    output_dir: Path,
) -> Uploader:
    """The uploader for a project's `destination.dicom`, with its credentials read now."""
    factory = _FACTORIES.get(destination)
    if factory is None:
        state = "is not implemented yet" if destination in _PLANNED else "is not a destination"
        raise ConfigError(
            source="destination",
            field="dicom",
            problem=f"'{destination}' {state}; choose one of {', '.join(sorted(_FACTORIES))}",
        )
    return factory(alias_or_slug, get_secret, output_dir)
