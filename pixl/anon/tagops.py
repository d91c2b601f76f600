"""Tag-operation files in PIXL's format, loaded once and compiled to `tag -> Op` tables.

A tag-operation file is a YAML list of `{name, group, element, op}`; a manufacturer-override
file is a list of `{manufacturer: <regex>, tags: [...]}`. Base files merge in order (a later
file wins for the same tag), then the overrides whose regex matches the instance's
Manufacturer (case-insensitive search, later wins). Every tag not in the result is removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import dictionary_VR

from pixl.errors import ConfigError


class Op(StrEnum):
    """The operations PIXL's tag files accept (dicom-anonymizer's names plus `secure-hash`)."""

    KEEP = "keep"
    DELETE = "delete"
    REPLACE = "replace"
    EMPTY = "empty"
    REPLACE_UID = "replace_UID"
    SECURE_HASH = "secure-hash"
    EMPTY_OR_REPLACE = "empty_or_replace"
    DELETE_OR_EMPTY = "delete_or_empty"
    DELETE_OR_REPLACE = "delete_or_replace"
    DELETE_OR_EMPTY_OR_REPLACE = "delete_or_empty_or_replace"
    DELETE_OR_EMPTY_OR_REPLACE_UID = "delete_or_empty_or_replace_UID"


ACCEPTED_OPS = ", ".join(op.value for op in Op)
_OPS_BY_NAME = {op.value: op for op in Op}


@dataclass(frozen=True)
class TagRule:
    """One entry of a tag-operation file."""

    tag: int
    op: Op
    name: str | None = None


@dataclass(frozen=True)
class ManufacturerOverride:
    """Rules that apply on top of the base rules when the Manufacturer matches `pattern`."""

    pattern: re.Pattern[str]
    rules: tuple[TagRule, ...]


@dataclass(frozen=True)
class RuleTable:
    """The compiled rules for one manufacturer: what to do with each tag, at every depth.

    `ops` holds only tags that survive (no DELETE entries); `sequences` are the kept tags the
    data dictionary knows as sequences, whose items are filtered with the same table;
    `kept` are the tags whose values pass unchanged; `vrs` the dictionary VR of each public
    tag (unambiguous ones only), for elements read with implicit VR.
    """

    ops: dict[int, Op]
    sequences: frozenset[int]
    kept: frozenset[int]
    vrs: dict[int, str]


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, "not a text file (UTF-8)") from exc
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), where, f"malformed YAML: {problem}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:
        # A scalar YAML types but cannot build, e.g. the date 2024-02-30.
        raise ConfigError(str(path), None, f"malformed YAML: {exc}") from exc


def _tag_number(value: Any, source: Path, field_path: str) -> int:
    """A group or element number: a YAML integer (0x0010) or a hex string ("0x0010")."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value, 16)
        except ValueError:
            number = None
    if number is None or not 0 <= number <= 0xFFFF:
        raise ConfigError(
            str(source), field_path, f"must be a number 0x0000-0xFFFF, e.g. 0x0010; got {value!r}"
        )
    return number


def _parse_rules(entries: Any, source: Path, prefix: str) -> tuple[TagRule, ...]:
    if not isinstance(entries, list):
        where = prefix or None
        raise ConfigError(
            str(source), where, "must be a list of {name, group, element, op} entries"
        )
    rules = []
    for index, entry in enumerate(entries):
        at = f"{prefix}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(str(source), at, "must be a mapping with group, element and op")
        for key in ("group", "element", "op"):
            if key not in entry:
                raise ConfigError(str(source), f"{at}.{key}", "is missing")
        group = _tag_number(entry["group"], source, f"{at}.group")
        element = _tag_number(entry["element"], source, f"{at}.element")
        op = _OPS_BY_NAME.get(entry["op"]) if isinstance(entry["op"], str) else None
        if op is None:
            raise ConfigError(
                str(source),
                f"{at}.op",
                f"unknown operation {entry['op']!r}; accepted: {ACCEPTED_OPS}",
            )
        name = entry.get("name")
        rules.append(TagRule((group << 16) | element, op, None if name is None else str(name)))
    return tuple(rules)


def load_tag_file(path: Path) -> tuple[TagRule, ...]:
    """Parse one base tag-operation file."""
    return _parse_rules(read_yaml(path), path, "")


def load_override_file(path: Path) -> tuple[ManufacturerOverride, ...]:
    """Parse one manufacturer-override file; regexes are compiled here, once."""
    data = read_yaml(path)
    if not isinstance(data, list):
        raise ConfigError(str(path), None, "must be a list of {manufacturer, tags} entries")
    overrides = []
    for index, entry in enumerate(data):
        at = f"[{index}]"
        if not isinstance(entry, dict) or "manufacturer" not in entry or "tags" not in entry:
            raise ConfigError(str(path), at, "must be a mapping with 'manufacturer' and 'tags'")
        try:
            pattern = re.compile(str(entry["manufacturer"]), re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(
                str(path), f"{at}.manufacturer", f"not a valid regular expression: {exc}"
            ) from exc
        overrides.append(
            ManufacturerOverride(pattern, _parse_rules(entry["tags"], path, at + ".tags"))
        )
    return tuple(overrides)


def _dictionary_vr(tag: int) -> str | None:
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    return vr if len(vr) == 2 else None  # "US or SS" and the like depend on the dataset


def compile_rules(ops: dict[int, Op]) -> RuleTable:
    """Drop DELETE entries, keep private creators of kept private elements, mark sequences."""
    kept: dict[int, Op] = {tag: op for tag, op in ops.items() if op is not Op.DELETE}
    for tag in list(kept):
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 1 and element >= 0x1000:
            # A private element is meaningless without its block's creator (gggg,00xx).
            kept.setdefault((group << 16) | (element >> 8), Op.KEEP)
    vrs = {tag: vr for tag in kept if (vr := _dictionary_vr(tag)) is not None}
    return RuleTable(
        kept,
        frozenset(tag for tag, vr in vrs.items() if vr == "SQ"),
        frozenset(tag for tag, op in kept.items() if op is Op.KEEP),
        vrs,
    )


@dataclass
class TagOperations:
    """All rules of a project, parsed once; `for_manufacturer` compiles and caches a table."""

    base: dict[int, Op]
    overrides: tuple[ManufacturerOverride, ...] = ()
    _tables: dict[str, RuleTable] = field(default_factory=dict, repr=False)

    @classmethod
    def from_files(cls, base: list[Path], overrides: list[Path]) -> TagOperations:
        merged: dict[int, Op] = {}
        for path in base:
            merged.update((rule.tag, rule.op) for rule in load_tag_file(path))
        parsed: list[ManufacturerOverride] = []
        for path in overrides:
            parsed.extend(load_override_file(path))
        return cls(merged, tuple(parsed))

    def for_manufacturer(self, manufacturer: str | None) -> RuleTable:
        """The table for instances of this Manufacturer (None or "" when absent)."""
        key = manufacturer or ""
        table = self._tables.get(key)
        if table is None:
            ops = dict(self.base)
            for override in self.overrides:
                if key and override.pattern.search(key):
                    ops.update((rule.tag, rule.op) for rule in override.rules)
            table = self._tables[key] = compile_rules(ops)
        return table
