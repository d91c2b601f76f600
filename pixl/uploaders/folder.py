"""The local-folder destination: `<root>/<slug>/<pseudo_study_uid>/<file>`."""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from pathlib import Path

from pixl.errors import UploadError
from pixl.uploaders.base import parquet_path

log = logging.getLogger(__name__)


class FolderUploader:
    """Copies each study into its own folder, which appears only once complete."""

    name = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _final(self, project_slug: str, pseudo_study_uid: str) -> Path:
        return self.root / project_slug / pseudo_study_uid

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        return self._final(project_slug, pseudo_study_uid).is_dir()

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        """Copy into `<uid>.partial`, then rename: a half copy never has the final name."""
        final = self._final(project_slug, pseudo_study_uid)
        if final.is_dir():
            log.info("upload skipped project=%s study=%s: already there", project_slug, final.name)
            return str(final)
        partial = final.with_name(f"{pseudo_study_uid}.partial")
        try:
            shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted copy
            partial.mkdir(parents=True)
            for path in files:
                shutil.copyfile(path, partial / path.name)
            partial.rename(final)
        except OSError as error:
            if final.is_dir():  # another worker finished the same study first
                shutil.rmtree(partial, ignore_errors=True)
                return str(final)
            raise UploadError(
                f"Copying study {pseudo_study_uid} into {final.parent} failed ({error}). "
                "Check the folder exists, is writable and has space; the upload will be retried."
            ) from error
        log.info("uploaded project=%s study=%s files=%d", project_slug, final.name, len(files))
        return str(final)

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        """Copy each file to `<name>.part` and rename it into place, unless an identical copy
        is already there."""
        for path, relative in files:
            target = self.root / parquet_path(project_slug, extract_datetime_slug, relative)
            if target.is_file() and filecmp.cmp(path, target, shallow=False):
                continue
            part = target.with_name(f"{target.name}.part")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, part)
                os.replace(part, target)
            except OSError as error:
                raise UploadError(
                    f"Copying parquet file {relative} into {target.parent} failed ({error}). "
                    "Check the folder is writable and has space; the export will be retried."
                ) from error
        log.info("uploaded project=%s parquet files=%d", project_slug, len(files))
        return str(self.root / project_slug / extract_datetime_slug / "parquet")
