"""What `pixl anonymise` and `pixl check-config` do, as plain functions the CLI calls.

Each returns the text to print (and `check_config_command` the exit code too); errors the
user can fix are `PixlError`s, for the CLI to print.
"""

from __future__ import annotations

from pathlib import Path

from pixl.anon.config import ProjectConfig, list_project_slugs, load_project_config
from pixl.anon.preview import format_report, preview
from pixl.errors import ConfigError


def anonymise_command(
    projects_dir: Path, slug: str, inputs: list[Path], output: Path, key: bytes, salt: bytes
) -> str:
    """De-identify local files or folders for project `slug` into `output/<pseudo study uid>/`
    (grouped by study, by the same engine as the pipeline) and return the per-tag summary."""
    missing = [path for path in inputs if not path.exists()]
    if missing:
        raise ConfigError(str(missing[0]), None, "no such file or folder to anonymise")
    if not inputs:
        raise ConfigError(str(projects_dir), None, "name at least one file or folder")
    return format_report(preview(projects_dir, slug, inputs, output, key, salt))


def check_config_command(projects_dir: Path, target: str | None) -> tuple[int, str]:
    """Validate project configs and every file they name: `target` is a slug, a path to a
    config file, or None for every config in `projects_dir`. Returns (exit code, report):
    one line per config, OK or the file, field and problem."""
    if target is None:
        configs = [(projects_dir, slug) for slug in list_project_slugs(projects_dir)]
        if not configs:
            return 1, f"no project configs (*.yaml) in {projects_dir}"
    elif target.endswith(".yaml") or "/" in target or "\\" in target:
        path = Path(target)
        configs = [(path.parent, path.stem)]  # its tag operations sit next to it
    else:
        configs = [(projects_dir, target)]
    lines = []
    failed = 0
    for folder, slug in configs:
        try:
            config = load_project_config(folder, slug)
        except ConfigError as exc:
            failed += 1
            lines.append(f"FAIL {slug}: {exc}")
        else:
            lines.append(f"OK   {slug}: {_summary(config)}")
    lines.append(f"{len(configs) - failed} of {len(configs)} project config(s) OK")
    return (1 if failed else 0), "\n".join(lines)


def _summary(config: ProjectConfig) -> str:
    files = config.tag_operation_files
    recipes = config.image_operation_files.deid_recipes if config.image_operation_files else []
    parts = [
        ", ".join(config.project.modalities),
        f"{len(files.base)} tag-operation file(s)",
        f"{len(files.manufacturer_overrides or [])} manufacturer override file(s)",
        f"{len(recipes)} deid recipe(s)",
        f"destination {config.destination.dicom.value}",
    ]
    return "; ".join(parts)
