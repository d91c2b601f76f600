"""Project configs in PIXL's YAML format, validated and loaded with their tag rules once.

`<projects_dir>/<slug>.yaml` names its tag-operation files, which live in
`<projects_dir>/tag-operations/` (manufacturer overrides in its `manufacturer-overrides/`).
Every problem is a `ConfigError` naming the file, the field and what is accepted.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from pixl.anon.recipes import Recipes
from pixl.anon.tagops import TagOperations, read_yaml
from pixl.errors import ConfigError

TAG_OPERATIONS_DIR = "tag-operations"
OVERRIDES_DIR = "manufacturer-overrides"
IMAGE_OPERATIONS_DIR = "image-operations"


class DicomDestination(StrEnum):
    """Where de-identified DICOM goes."""

    NONE = "none"
    FTPS = "ftps"
    SFTP = "sftp"
    DICOMWEB = "dicomweb"
    XNAT = "xnat"
    TRE = "tre"
    FOLDER = "folder"


class ParquetDestination(StrEnum):
    """Where the parquet exports go (DICOMweb and XNAT only take DICOM)."""

    NONE = "none"
    FTPS = "ftps"
    SFTP = "sftp"
    TRE = "tre"
    FOLDER = "folder"


class XnatOverwrite(StrEnum):
    NONE = "none"
    APPEND = "append"
    DELETE = "delete"


class XnatArchive(StrEnum):
    ARCHIVE = "/archive"
    PREARCHIVE = "/prearchive"


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt `series_filter` must not silently filter nothing.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(_Model):
    name: str
    azure_kv_alias: str | None = None
    modalities: list[str] = Field(min_length=1)

    @field_validator("modalities")
    @classmethod
    def _upper(cls, modalities: list[str]) -> list[str]:
        return [modality.strip().upper() for modality in modalities]


class TagOperationFiles(_Model):
    base: list[str] = Field(min_length=1)
    manufacturer_overrides: list[str] | None = None

    @field_validator("manufacturer_overrides", mode="before")
    @classmethod
    def _none_string(cls, value: Any) -> Any:
        # PIXL's template writes `manufacturer_overrides: none`.
        return None if isinstance(value, str) and value.strip().lower() == "none" else value


class AllowedManufacturer(_Model):
    regex: str = ".*"
    exclude_series_numbers: list[int | str] = []

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str) -> str:
        try:
            re.compile(regex)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return regex


class ImageOperationFiles(_Model):
    deid_recipes: list[str] = []


class Destination(_Model):
    dicom: DicomDestination
    parquet: ParquetDestination


class XnatDestinationOptions(_Model):
    overwrite: XnatOverwrite = XnatOverwrite.NONE
    destination: XnatArchive = XnatArchive.ARCHIVE


class ProjectConfig(_Model):
    """One project: which instances to take, how to de-identify them, where they go."""

    project: Project
    tag_operation_files: TagOperationFiles
    series_filters: list[str] | None = None
    allowed_manufacturers: list[AllowedManufacturer] = [AllowedManufacturer()]
    min_instances_per_series: int = Field(default=2, ge=1)
    image_operation_files: ImageOperationFiles | None = None
    destination: Destination
    xnat_destination_options: XnatDestinationOptions | None = None

    _slug: str = PrivateAttr(default="")
    _source: Path | None = PrivateAttr(default=None)
    _tag_operations: TagOperations | None = PrivateAttr(default=None)
    _recipes: Recipes | None = PrivateAttr(default=None)
    _manufacturers: list[tuple[re.Pattern[str], frozenset[str]]] = PrivateAttr(default_factory=list)
    _filters: tuple[str, ...] = PrivateAttr(default=())

    def model_post_init(self, context: Any) -> None:
        self._manufacturers = [
            (
                re.compile(entry.regex, re.IGNORECASE),
                frozenset(series_number_key(number) for number in entry.exclude_series_numbers),
            )
            for entry in self.allowed_manufacturers
        ]
        self._filters = tuple(f.casefold() for f in self.series_filters or ())

    @property
    def slug(self) -> str:
        """The file name without `.yaml`: how cohorts, records and secrets name the project."""
        return self._slug

    @property
    def alias(self) -> str:
        """The prefix of the project's secrets: `azure_kv_alias`, else the slug."""
        return self.project.azure_kv_alias or self._slug

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def tag_operations(self) -> TagOperations:
        if self._tag_operations is None:
            raise ConfigError(self._slug or "project config", "tag_operation_files", "not loaded")
        return self._tag_operations

    @property
    def recipes(self) -> Recipes | None:
        """The parsed deid recipes (pixel clean-up), or None when the project lists none."""
        return self._recipes

    def is_series_excluded(self, description: str | None) -> bool:
        """Whether a series filter is a case-insensitive substring of the description."""
        if not description:
            return False
        folded = description.casefold()
        return any(f in folded for f in self._filters)

    def manufacturer_allowed(self, manufacturer: str | None, series_number: object = None) -> bool:
        """Whether the first allowed-manufacturer entry matching the Manufacturer (a
        case-insensitive regex search) exists and does not exclude this series number."""
        excluded = self.excluded_series_numbers(manufacturer)
        return excluded is not None and (
            series_number is None or series_number_key(series_number) not in excluded
        )

    def excluded_series_numbers(self, manufacturer: str | None) -> frozenset[str] | None:
        """The series numbers excluded for this manufacturer, or None if it is not allowed."""
        name = manufacturer or ""
        for pattern, excluded in self._manufacturers:
            if pattern.search(name):
                return excluded
        return None


def series_number_key(value: object) -> str:
    """A series number as compared with `exclude_series_numbers`: 7, "7" and "007" agree."""
    text = str(value).strip()
    return str(int(text)) if text.isascii() and text.isdigit() else text


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validation_error(source: Path, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function")))
    problem = first["msg"]
    if first["type"] == "extra_forbidden":
        problem = "unknown field; accepted: " + ", ".join(
            _accepted_fields(loc[:-1]) or ["(see PIXL's project config format)"]
        )
    more = len(error.errors()) - 1
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(str(source), _field_path(loc) or None, problem)


def _accepted_fields(loc: tuple[int | str, ...]) -> list[str]:
    model: Any = ProjectConfig
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return []
        annotation = info.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        for arg in list(candidates):
            candidates.extend(getattr(arg, "__args__", ()))
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return []
    return list(model.model_fields)


def list_project_slugs(projects_dir: Path) -> list[str]:
    """The slugs of every `<slug>.yaml` directly in `projects_dir`, sorted."""
    return sorted(path.stem for path in projects_dir.glob("*.yaml") if path.is_file())


def _existing(path: Path, source: Path, field_path: str) -> Path:
    if not path.is_file():
        raise ConfigError(str(source), field_path, f"file not found: {path}")
    return path


def load_project_config(projects_dir: Path, slug: str) -> ProjectConfig:
    """Read, validate and load `<projects_dir>/<slug>.yaml` and every file it names, once."""
    source = projects_dir / f"{slug}.yaml"
    if not slug or any(c in slug for c in "/\\\x00") or slug.startswith("."):
        raise ConfigError(str(source), None, f"'{slug}' is not a project slug (a file name)")
    if not source.is_file():
        known = ", ".join(list_project_slugs(projects_dir)) if projects_dir.is_dir() else ""
        raise ConfigError(
            str(source),
            None,
            f"no config for project '{slug}'; projects in {projects_dir}: {known or 'none'}",
        )
    data = read_yaml(source)
    if not isinstance(data, dict):
        raise ConfigError(str(source), None, "must be a mapping with project, destination, ...")
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(source, exc) from None

    tag_dir = projects_dir / TAG_OPERATIONS_DIR
    files = config.tag_operation_files
    base = [
        _existing(tag_dir / name, source, f"tag_operation_files.base[{i}]")
        for i, name in enumerate(files.base)
    ]
    overrides = [
        _existing(
            tag_dir / OVERRIDES_DIR / name,
            source,
            f"tag_operation_files.manufacturer_overrides[{i}]",
        )
        for i, name in enumerate(files.manufacturer_overrides or [])
    ]
    recipes = [
        _existing(
            projects_dir / IMAGE_OPERATIONS_DIR / name,
            source,
            f"image_operation_files.deid_recipes[{i}]",
        )
        for i, name in enumerate(
            config.image_operation_files.deid_recipes if config.image_operation_files else []
        )
    ]
    config._slug = slug
    config._source = source
    config._tag_operations = TagOperations.from_files(base, overrides)
    config._recipes = Recipes.from_files(recipes) if recipes else None
    return config
