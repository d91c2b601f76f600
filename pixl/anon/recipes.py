"""deid recipes, as PIXL lists them in `image_operation_files.deid_recipes`: which instances
carry burned-in text, and where in the image.

The format is pydicom/deid's. A recipe starts with `FORMAT dicom`; its `%filter <name>`
sections hold labels, each a set of conditions on the header and the regions to blank:

    %filter graylist
    LABEL Acme ultrasound, patient banner
      contains Modality US
      + contains Manufacturer Acme
      coordinates 0,0,640,48

Conditions: `contains`/`notcontains` (case-insensitive regular expression search),
`equals`/`notequals` (case-insensitive), `present`, `missing`, `empty`, on a keyword or a
tag (`0x00190010`); a line starting with `+` joins with and, `||` with or, left to right,
and a line is a group. Regions: `coordinates x0,y0,x1,y1` (x1, y1 exclusive), `ctpcoordinates
x,y,width,height`, `coordinates all` and `coordinates from:<sequence>` (the ultrasound
regions of `SequenceOfUltrasoundRegions`); the `keep` variants keep a region instead. As in
deid, every matching label of every filter applies its regions in order, the later winning,
and a label without conditions always matches. Other sections (`%header`, ...) are ignored:
tags are the tag-operation files' business. Parsed once, when the project config loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from pixl.anon.leaks import STRING_VRS, ascii_text
from pixl.errors import ConfigError

T = TypeVar("T")
Box = tuple[int, int, int, int]  # x0, y0, x1, y1; x1 and y1 exclusive


class Criterion(StrEnum):
    """The conditions deid's filters accept."""

    CONTAINS = "contains"
    NOTCONTAINS = "notcontains"
    EQUALS = "equals"
    NOTEQUALS = "notequals"
    PRESENT = "present"
    MISSING = "missing"
    EMPTY = "empty"


_WITH_VALUE = frozenset(
    {Criterion.CONTAINS, Criterion.NOTCONTAINS, Criterion.EQUALS, Criterion.NOTEQUALS}
)
_ACCEPTED_TESTS = ", ".join(test.value for test in Criterion)
_SECTIONS = ("filter", "header", "labels", "values", "fields")
# keyword -> (keep the region, CTP's x,y,width,height)
_COORDINATES = {
    "coordinates": (False, False),
    "keepcoordinates": (True, False),
    "ctpcoordinates": (False, True),
    "ctpkeepcoordinates": (True, True),
}
_LEADING_OPERATOR = re.compile(r"(\+|\|\|)\s*")
_INLINE_OPERATOR = re.compile(
    r"\s+(\+|\|\|)\s+(?=(?:" + "|".join(Criterion) + r")(?:\s|$))", re.IGNORECASE
)
_TAG = re.compile(r"\(?(?:0x)?([0-9a-f]{4}),?\s*([0-9a-f]{4})\)?", re.IGNORECASE)
_REGION_CORNERS = (
    "RegionLocationMinX0",
    "RegionLocationMinY0",
    "RegionLocationMaxX1",
    "RegionLocationMaxY1",
)


def field_texts(ds: Dataset, tag: int) -> list[str] | None:
    """The values of a top-level element as stripped text; None if absent.

    A sequence has no text values (it is present, it contains nothing).
    """
    elem = ds.get_item(tag)
    if elem is None:
        return None
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        vr = elem.VR or _dictionary_vr(tag)
        text = ascii_text(elem.value) if vr in STRING_VRS else None
        if text is not None:
            values = [text] if vr in ("LT", "ST", "UT") else text.split("\\")
            return [v.strip("\x00 ") for v in values]
    value = ds[tag].value
    if value is None or isinstance(value, DicomSequence):
        return []
    if isinstance(value, bytes):
        return [value.decode("latin-1").strip("\x00 ")]
    values = list(value) if isinstance(value, MultiValue | list) else [value]
    return [str(v).strip("\x00 ") for v in values]


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


@dataclass(frozen=True)
class Condition:
    """One test on a top-level element of the original header."""

    test: Criterion
    tag: int
    value: str = ""
    pattern: re.Pattern[str] | None = None

    def holds(self, ds: Dataset) -> bool:
        texts = field_texts(ds, self.tag)
        if self.test is Criterion.PRESENT:
            return texts is not None
        if self.test is Criterion.MISSING:
            return texts is None
        if self.test is Criterion.EMPTY:
            return texts is not None and not any(texts)
        values = texts or []
        if self.test in (Criterion.CONTAINS, Criterion.NOTCONTAINS):
            assert self.pattern is not None
            found = any(self.pattern.search(v) for v in values)
            return found if self.test is Criterion.CONTAINS else not found
        term = self.value.casefold()
        equal = any(v.casefold() == term for v in values)
        return equal if self.test is Criterion.EQUALS else not equal


Clause = tuple[tuple[bool, Condition], ...]  # (joined with or, condition): one line


@dataclass(frozen=True)
class Region:
    """A region to blank (or, if `keep`, to keep): a box, the whole image (no box and no
    source), or the ultrasound regions listed in the sequence `source`."""

    keep: bool
    box: Box | None = None
    source: int | None = None

    def boxes(self, ds: Dataset, rows: int, columns: int) -> list[Box]:
        if self.source is not None:
            return _sequence_boxes(ds, self.source)
        return [self.box if self.box is not None else (0, 0, columns, rows)]


def _sequence_boxes(ds: Dataset, tag: int) -> list[Box]:
    """The regions of a sequence such as SequenceOfUltrasoundRegions (PS3.3 C.8.5.5), whose
    Max coordinates are inclusive."""
    if tag not in ds:
        return []
    items = ds[tag].value
    boxes = []
    for item in items if isinstance(items, DicomSequence) else ():
        corners = [item.get(keyword) for keyword in _REGION_CORNERS]
        if all(isinstance(c, int) for c in corners):
            x0, y0, x1, y1 = (int(c) for c in corners)
            boxes.append((x0, y0, x1 + 1, y1 + 1))
    return boxes


@dataclass(frozen=True)
class Label:
    """A LABEL: its conditions (lines joined left to right) and its regions, in order."""

    name: str
    where: str  # recipe file and line, for messages
    clauses: tuple[tuple[bool, Clause], ...]
    regions: tuple[Region, ...]

    def matches(self, ds: Dataset) -> bool:
        if not self.clauses:
            return bool(self.regions)
        return _fold(self.clauses, lambda clause: _fold(clause, lambda c: c.holds(ds)))


def _fold(terms: Sequence[tuple[bool, T]], value: Callable[[T], bool]) -> bool:
    """Evaluate terms left to right without precedence, as deid does; each term says whether
    it joins the result so far with or (else and)."""
    result = False
    for index, (join_or, term) in enumerate(terms):
        if index == 0:
            result = value(term)
        elif join_or:
            result = result or value(term)
        else:
            result = result and value(term)
    return result


@dataclass(frozen=True)
class Recipes:
    """Every label of a project's recipes, in the order deid applies them."""

    labels: tuple[Label, ...]

    @classmethod
    def from_files(cls, paths: Sequence[Path]) -> Recipes:
        # Labels of same-named filters across files gather under the first, as deid merges.
        groups: dict[str, list[Label]] = {}
        for path in paths:
            for group, label in parse_recipe(path):
                groups.setdefault(group, []).append(label)
        return cls(tuple(label for labels in groups.values() for label in labels))

    def regions_for(self, ds: Dataset) -> list[Region]:
        """The regions of every label whose conditions the header meets, in order."""
        return [region for label in self.labels if label.matches(ds) for region in label.regions]


def blank_mask(regions: Sequence[Region], ds: Dataset, rows: int, columns: int) -> np.ndarray:
    """Which pixels of a frame `regions` blank (True), the later regions winning."""
    mask = np.zeros((rows, columns), dtype=bool)
    for region in regions:
        for x0, y0, x1, y1 in region.boxes(ds, rows, columns):
            mask[y0:y1, x0:x1] = not region.keep
    return mask


def parse_recipe(path: Path) -> list[tuple[str, Label]]:
    """The (filter name, label) pairs of one recipe file; a `ConfigError` names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "not a text file (UTF-8)") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc.strerror}") from None
    labels: list[tuple[str, Label]] = []
    format_seen = False
    section: str | None = None
    group = ""
    label: tuple[str, str, list[tuple[bool, Clause]], list[Region]] | None = None

    def finish() -> None:
        if label is not None:
            name, where, clauses, regions = label
            labels.append((group, Label(name, where, tuple(clauses), tuple(regions))))

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def error(problem: str, line_number: int = number) -> ConfigError:
            return ConfigError(str(path), f"line {line_number}", problem)

        words = line.split(None, 1)
        keyword, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
        if keyword == "format":
            if _uncommented(rest).lower() != "dicom":
                raise error(f"only 'FORMAT dicom' recipes apply to DICOM; got '{line}'")
            format_seen = True
            continue
        if not format_seen:
            raise error("a deid recipe starts with 'FORMAT dicom'")
        if line.startswith("%"):
            finish()
            label = None
            name = _uncommented(line[1:]).split(None, 1)
            section = name[0].lower() if name else ""
            if section not in _SECTIONS:
                raise error(
                    f"unknown section '%{section}'; accepted: "
                    + ", ".join(f"%{s}" for s in _SECTIONS)
                )
            if section == "filter":
                if len(name) < 2:
                    raise error("a filter section needs a name, e.g. '%filter graylist'")
                group = name[1]
            continue
        if section is None:
            raise error("expected a section, e.g. '%filter graylist', before this line")
        if section != "filter":
            continue  # header actions: the project's tag-operation files decide tags
        if keyword == "label":
            finish()
            label = (_uncommented(rest), f"{path.name}:{number}", [], [])
        elif label is None:
            raise error("expected 'LABEL <name>' before conditions and coordinates")
        elif keyword in _COORDINATES:
            label[3].append(_region(keyword, rest, error))
        else:
            label[2].append(_clause(line, error))
    finish()
    if not format_seen:
        raise ConfigError(str(path), None, "empty: a deid recipe starts with 'FORMAT dicom'")
    return labels


def _uncommented(text: str) -> str:
    return text.split("#", 1)[0].strip()


def _clause(line: str, error: Callable[[str], ConfigError]) -> tuple[bool, Clause]:
    join_or = False
    leading = _LEADING_OPERATOR.match(line)
    if leading:
        join_or = leading.group(1) == "||"
        line = line[leading.end() :]
    parts = _INLINE_OPERATOR.split(line)
    terms = [(False, _condition(parts[0], error))]
    terms += [
        (operator == "||", _condition(text, error))
        for operator, text in zip(parts[1::2], parts[2::2], strict=True)
    ]
    return join_or, tuple(terms)


def _condition(text: str, error: Callable[[str], ConfigError]) -> Condition:
    words = text.split(None, 2)
    test = next((t for t in Criterion if words and t.value == words[0].lower()), None)
    if test is None:
        got = words[0] if words else text
        raise error(
            f"unknown condition '{got}'; accepted: {_ACCEPTED_TESTS}, or a coordinates line"
        )
    if test in _WITH_VALUE:
        if len(words) < 3:
            raise error(f"'{test}' needs a field and a value, e.g. '{test} Manufacturer Acme'")
        value = words[2].strip()
    else:
        if len(words) < 2 or (len(words) == 3 and not words[2].startswith("#")):
            raise error(f"'{test}' takes one field, e.g. '{test} SequenceOfUltrasoundRegions'")
        value = ""
    tag = _tag(words[1], error)
    pattern = None
    if test in (Criterion.CONTAINS, Criterion.NOTCONTAINS):
        try:
            pattern = re.compile(value, re.IGNORECASE)
        except (re.error, RecursionError, OverflowError) as exc:
            raise error(f"'{value}' is not a valid regular expression: {exc}") from None
    return Condition(test, tag, value, pattern)


def _tag(name: str, error: Callable[[str], ConfigError]) -> int:
    tag = tag_for_keyword(name)
    if tag is not None:
        return tag
    match = _TAG.fullmatch(name)
    if match is None:
        raise error(
            f"unknown field '{name}': give a DICOM keyword (Manufacturer) or a tag (0x00190010)"
        )
    return int(match.group(1), 16) << 16 | int(match.group(2), 16)


def _region(kind: str, rest: str, error: Callable[[str], ConfigError]) -> Region:
    keep, ctp = _COORDINATES[kind]
    spec = _uncommented(rest)
    if spec.lower() == "all":
        return Region(keep)
    if spec.lower().startswith("from:"):
        return Region(keep, source=_tag(spec[5:].strip(), error))
    try:
        numbers = [int(part) for part in spec.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or min(numbers) < 0:
        form = "x,y,width,height" if ctp else "x0,y0,x1,y1"
        raise error(
            f"'{kind}' takes four whole numbers >= 0 ({form}), 'all' or 'from:<sequence>'; "
            f"got '{spec}'"
        )
    x0, y0, a, b = numbers
    x1, y1 = (x0 + a, y0 + b) if ctp else (a, b)
    if x1 < x0 or y1 < y0:
        raise error(f"'{kind} {spec}': x1 and y1 must not be smaller than x0 and y0")
    return Region(keep, (x0, y0, x1, y1))
