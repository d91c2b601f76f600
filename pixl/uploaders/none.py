"""The `none` destination: the project keeps nothing outside pixl."""

from __future__ import annotations

from pathlib import Path


class NoneUploader:
    """Accepts every study and delivers it nowhere."""

    name = "none"

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        return "none"

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        return False

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        return "none"
