"""Delivering an OMOP extract's public tables to the project's exports folder."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from pixl.cohort.model import OmopExtract
from pixl.cohort.values import extract_datetime_slug

ALL_EXTRACTS = "all_extracts"
LATEST = "latest"
_EXTRACT_SLUG = re.compile(r"^\d{4}-\d{2}-\d{2}t\d{2}-\d{2}-\d{2}$")


def copy_public_omop(extract: OmopExtract, exports_dir: Path) -> Path:
    """Copy `public/` to EXPORTS/<slug>/all_extracts/<extract-datetime>/omop/public/.

    Re-running replaces the earlier copy whole (copy to a temporary folder, then rename).
    `EXPORTS/<slug>/latest` is pointed at this extract only if it is the newest one there.
    Returns the copied public folder.
    """
    project_dir = exports_dir / extract.project_slug
    extract_name = extract_datetime_slug(extract.extract_datetime)
    target = project_dir / ALL_EXTRACTS / extract_name / "omop" / "public"
    target.parent.mkdir(parents=True, exist_ok=True)
    _replace_tree(extract.public_dir, target)
    newest = max(
        entry.name
        for entry in (project_dir / ALL_EXTRACTS).iterdir()
        if entry.is_dir() and _EXTRACT_SLUG.match(entry.name)
    )
    if newest == extract_name:
        _point_symlink(project_dir / LATEST, Path(ALL_EXTRACTS) / extract_name)
    return target


def _replace_tree(source: Path, target: Path) -> None:
    """Copy `source` to `target` so that `target` is never seen half-written."""
    token = uuid.uuid4().hex
    staging = target.with_name(f".{target.name}.{token}.tmp")
    shutil.copytree(source, staging)
    if target.exists():
        retired = target.with_name(f".{target.name}.{token}.old")
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired)
    else:
        staging.rename(target)


def _point_symlink(link: Path, relative_target: Path) -> None:
    """Make `link` a relative symlink to `relative_target`, replacing any earlier link."""
    staging = link.with_name(f".{link.name}.{uuid.uuid4().hex}.tmp")
    staging.symlink_to(relative_target, target_is_directory=True)
    os.replace(staging, link)
