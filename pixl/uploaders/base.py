"""The destination interface every uploader implements, and the zip helper they share."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Protocol

# A fixed timestamp and mode make the zip of the same files byte-identical every time, so
# its size tells whether a study already delivered is the one about to be delivered.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o644 << 16


class Uploader(Protocol):
    """Delivers one de-identified study to a project's destination, idempotently."""

    name: str

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        """Deliver the study unless it is already there; return where it is, for people."""
        ...

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        """Whether a complete copy of the study is already at the destination."""
        ...


def zip_study(files: list[Path], pseudo_study_uid: str) -> Path:
    """Zip `files` flat, sorted by name, into a temporary file the caller deletes.

    Raises ValueError when two files share a name: they would overwrite each other.
    """
    by_name = {path.name: path for path in files}
    if len(by_name) != len(files):
        raise ValueError(f"study {pseudo_study_uid}: two files share a name")
    handle, name = tempfile.mkstemp(prefix=f"{pseudo_study_uid}-", suffix=".zip")
    zip_path = Path(name)
    try:
        with open(handle, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for arcname in sorted(by_name):
                info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = _ZIP_MODE
                with by_name[arcname].open("rb") as src, archive.open(info, "w") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except BaseException:
        zip_path.unlink(missing_ok=True)
        raise
    return zip_path
