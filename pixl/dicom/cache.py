"""The raw cache: where C-MOVEs land before de-identification.

`RawCache` is the interface the retrieval code uses; `FolderCache` is the built-in one, a
folder filled by `pixl.dicom.storage_scp.StorageSCP` (Orthanc is the production one).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from pixl.dicom.network import is_uid
from pixl.settings import DicomNode


@runtime_checkable
class RawCache(Protocol):
    """A DICOM store that archives C-MOVE into and pixl reads studies back from."""

    node: DicomNode  # the C-MOVE destination

    def instances(self, study_uid: str) -> dict[str, set[str]]:
        """Series UID -> SOP Instance UIDs held for the study (empty if none)."""
        ...

    def read_instances(self, study_uid: str) -> Iterator[tuple[str, bytes]]:
        """(SOP Instance UID, Part 10 file bytes) of every instance held for the study."""
        ...

    def delete_study(self, study_uid: str) -> None:
        """Forget the study; no error if it is not there."""
        ...


class FolderCache:
    """The raw cache as a folder: `root/<study>/<series>/<sop>.dcm`, as `StorageSCP` writes.

    Files still being written have a temporary name (a leading dot) and are never listed.
    """

    def __init__(self, root: Path, node: DicomNode) -> None:
        self.root = Path(root)
        self.node = node

    def instances(self, study_uid: str) -> dict[str, set[str]]:
        held: dict[str, set[str]] = {}
        for path in self._files(study_uid):
            held.setdefault(path.parent.name, set()).add(path.stem)
        return held

    def read_instances(self, study_uid: str) -> Iterator[tuple[str, bytes]]:
        for path in self._files(study_uid):
            yield path.stem, path.read_bytes()

    def delete_study(self, study_uid: str) -> None:
        shutil.rmtree(self._study_dir(study_uid), ignore_errors=True)

    def _study_dir(self, study_uid: str) -> Path:
        if not is_uid(study_uid):
            raise ValueError(f"not a DICOM UID: {study_uid!r}")
        return self.root / study_uid

    def _files(self, study_uid: str) -> list[Path]:
        study_dir = self._study_dir(study_uid)
        if not study_dir.is_dir():
            return []
        return sorted(
            path
            for path in study_dir.glob("*/*.dcm")
            if not path.name.startswith(".") and path.is_file()
        )
