"""The last check before anything leaves: no original identifying value in the output.

`identifying_values_of` lists what an original instance reveals (names, IDs, dates,
instance UIDs, institution, free text); `find_leaks` searches de-identified files for those
values in every element at every depth, then in the file's raw bytes (pixel data aside) as
a second net. A `Leak` says where, never what.

Elements are searched all at once: `element_text` joins the text of every element of a
dataset, at every depth, with NUL between elements, and one search of that text finds what a
search of each element would (NUL is neither a digit nor a dot, so it ends a number or a UID
as the end of an element does); the walk that names the element runs only after a hit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MIN_TEXT_LENGTH = 4
# Short numbers (series numbers, rows, "1234") occur by chance: only longer ones are searched.
MIN_DIGITS_LENGTH = 6
PIXEL_DATA = 0x7FE00010
SPECIFIC_CHARACTER_SET = 0x00080005
_STANDARD_UID_ROOT = "1.2.840.10008."

_IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
    "PatientMotherBirthName", "PatientBirthDate", "PatientBirthTime", "PatientAddress",
    "PatientTelephoneNumbers", "MedicalRecordLocator", "AccessionNumber", "StudyID",
    "RequestedProcedureID", "ScheduledProcedureStepID", "PerformedProcedureStepID",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
    "DeviceSerialNumber", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "PatientComments", "StudyComments", "ImageComments", "AdditionalPatientHistory",
    "RequestedProcedureComments", "ImagingServiceRequestComments", "PerformedStationName",
    "ScheduledStationName", "PerformedLocation", "ScheduledProcedureStepLocation",
)  # fmt: skip
IDENTIFYING_TAGS = frozenset(tag_for_keyword(k) for k in _IDENTIFYING_KEYWORDS) - {None}
_TEXT_SEPARATORS = re.compile(r"[\^=\s]+")
_UID_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)+")
_UID_TOKEN_BYTES = re.compile(rb"[0-9]+(?:\.[0-9]+)+")
# Value representations whose values are text (PS3.5 6.2).
STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"}
    | {"UC", "UI", "UR", "UT"}
)
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})


@dataclass(frozen=True)
class Leak:
    """An original identifying value found in an output file. Never holds the value."""

    file: Path
    tag_path: str
    value_kind: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.tag_path} holds an original identifying value ({self.value_kind})"
        )


def _vr_of(tag: int, elem: DataElement | RawDataElement) -> str:
    return str(elem.VR) if elem.VR else _dictionary_vr(tag)


@lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str:
    """The VR of an element read without one (implicit VR): the dictionary's, else UN."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _elements(ds: Dataset) -> list[tuple[int, DataElement | RawDataElement]]:
    """The top-level (tag, element) pairs of `ds`, raw where not yet decoded.

    `Dataset.items` without `get_item`'s per-tag overhead; a deferred element (read later,
    its value still None) is read here so that no value escapes the walk.
    """
    pairs: list[tuple[int, DataElement | RawDataElement]] = list(ds.items())
    for index, (tag, elem) in enumerate(pairs):
        if isinstance(elem, RawDataElement) and elem.value is None and elem.length:
            pairs[index] = (tag, ds.get_item(tag))
    return pairs


def _strings(value: object) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, MultiValue | list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    else:
        yield str(value)


def ascii_text(value: bytes) -> str | None:
    """Raw bytes as text when they are plain ASCII (no ISO 2022 escapes), else None."""
    if value.isascii() and b"\x1b" not in value:
        return value.decode("ascii")
    return None


def _texts(
    ds: Dataset, tag: int, raw: DataElement | RawDataElement, vr: str, split: bool = True
) -> Iterator[str]:
    """The values of an element as text, from the raw bytes when they are plain ASCII.

    Decoding ASCII ourselves avoids pydicom's conversion, the bulk of the cost of a scan.
    With `split` false, a multi-valued ASCII value stays whole, backslashes and all: a search
    finds in it all it would find in its values one by one (a backslash ends a number as the
    end of a value does).
    """
    value = raw.value
    if isinstance(raw, RawDataElement) and isinstance(value, bytes):
        if vr not in STRING_VRS:
            yield value.decode("latin-1")
            return
        text = ascii_text(value)
        if text is not None:
            yield from text.split("\\") if split and vr not in ("LT", "ST", "UT") else (text,)
            return
        value = ds[tag].value
    yield from _strings(value)


def identifying_values_of(ds: Dataset, kept_tags: Collection[int] = ()) -> set[str]:
    """The identifying values of an original instance, at every depth.

    Person names (whole and by component), the identifiers, dates, places and free text of
    `IDENTIFYING_TAGS`, and every non-standard UID. Values of elements in `kept_tags` (the
    project keeps them on purpose) are left out.
    """
    return StudyValues().of(ds, kept_tags)


_SequenceKey = tuple[int, bytes, bool | None, bool | None, str | None, Collection[int]]


class StudyValues:
    """`identifying_values_of` for the instances of one study, which mostly repeat the same
    sequences (other patient IDs, request attributes): a top-level sequence met before with
    the same bytes, encoding, character set and kept tags gives what it gave then, without
    being decoded again. Everything else is read from each instance."""

    def __init__(self) -> None:
        self._sequences: dict[_SequenceKey, tuple[set[str], set[str]]] = {}

    def of(self, ds: Dataset, kept_tags: Collection[int] = ()) -> set[str]:
        """`identifying_values_of(ds, kept_tags)`."""
        found: set[str] = set()
        kept: set[str] = set()
        _collect(ds, found, kept, kept_tags, self._sequence)
        return {v for v in found - kept if _searchable(v)}

    def _sequence(
        self, ds: Dataset, tag: int, raw: RawDataElement, kept_tags: Collection[int]
    ) -> tuple[set[str], set[str]]:
        charset = ds.get_item(SPECIFIC_CHARACTER_SET)
        key = (
            tag,
            raw.value or b"",
            raw.is_implicit_VR,
            raw.is_little_endian,
            None if charset is None else str(charset.value),
            kept_tags if isinstance(kept_tags, frozenset) else frozenset(kept_tags),
        )
        values = self._sequences.get(key)
        if values is None:
            values = self._sequences[key] = (set(), set())
            for item in ds[tag].value or ():
                _collect(item, *values, kept_tags, None)
        return values


def _collect(
    ds: Dataset,
    found: set[str],
    kept: set[str],
    kept_tags: Collection[int],
    sequence: Callable[[Dataset, int, RawDataElement, Collection[int]], tuple[set[str], set[str]]]
    | None,
) -> None:
    for tag, raw in _elements(ds):
        vr = _vr_of(tag, raw)
        if vr == "UN":  # a public element stored as UN is read as its dictionary VR
            vr = _dictionary_vr(tag)
        if vr == "SQ":
            if sequence is not None and isinstance(raw, RawDataElement):
                sequence_found, sequence_kept = sequence(ds, tag, raw, kept_tags)
                found |= sequence_found
                kept |= sequence_kept
                continue
            for item in ds[tag].value or ():
                _collect(item, found, kept, kept_tags, None)
            continue
        if vr not in ("PN", "UI") and tag not in IDENTIFYING_TAGS:
            continue
        target = kept if tag in kept_tags else found
        for text in _texts(ds, tag, raw, vr):
            text = text.strip("\x00 ")
            if not text or (vr == "UI" and text.startswith(_STANDARD_UID_ROOT)):
                continue
            target.add(text)
            if vr == "PN":
                target.update(_TEXT_SEPARATORS.split(text))
            elif vr == "DT":
                target.add(text[:8])


def _searchable(value: str) -> bool:
    value = value.strip()
    return len(value) >= (MIN_DIGITS_LENGTH if value.isdigit() else MIN_TEXT_LENGTH)


def _is_uid(value: str) -> bool:
    return "." in value and value.replace(".", "").isdigit()


def _value_kind(match: str) -> str:
    if match.isdigit():
        return "number or date"
    if _is_uid(match):
        return "UID"
    return "text"


def _pattern(digits: Iterable[str], texts: Iterable[str]) -> str:
    """One alternative per value, each starting with its first character, which lets `re`
    skip ahead to the positions where one could start (when the pattern is case-sensitive).

    A number must not touch other digits: the character after it is no digit, nor the one
    before it (looked at from after its first digit: no digit then a digit behind).
    """
    return "|".join(
        [rf"{re.escape(v[0])}(?<![0-9][0-9]){re.escape(v[1:])}(?![0-9])" for v in digits]
        + [re.escape(v) for v in texts]
    )


@lru_cache(maxsize=4096)
def _ascii_fold(char: str) -> str:
    """The lower-case ASCII characters that `char` matches when `re` ignores case: itself
    lowered for ASCII, "s" for the long s, "k" for the Kelvin sign, none for most others.
    (Never more than one in Python 3.11, over all of Unicode; `LeakCheck` copes if so.)"""
    if char.isascii():
        return char.lower()
    pattern = re.compile(re.escape(char), re.IGNORECASE)
    return "".join(sorted({a.lower() for a in map(chr, range(128)) if pattern.fullmatch(a)}))


def _compiled(pattern: str, flags: int = 0) -> re.Pattern[str] | None:
    return re.compile(pattern, flags) if pattern else None


class LeakCheck:
    """The values to look for, growing as originals are read.

    UIDs (thousands per study) are matched as whole tokens against a set; the other values
    (a few dozen) by one regex, where digits must not touch other digits and text is a
    case-insensitive substring. The regex is built at the first search after a new non-UID
    value arrived, so a study whose instances differ in dates or free text builds it once
    when it searches them all at the end.

    Case is ignored by lowering what is searched rather than by `re.IGNORECASE`, which makes
    `re` try every value at every position, several times slower: ASCII text and raw bytes
    are lowered (`str.lower` and `bytes.lower` on ASCII do what `re` does when it ignores
    case there) and searched for the values as they would match there (`_ascii_fold`);
    text that is not ASCII is searched with `re.IGNORECASE`, as ever.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._uids: set[str] = set()
        self._raw_uids: set[bytes] = set()
        self._others: set[str] = set()
        self._stale = False
        self._text: re.Pattern[str] | None = None  # ignoring case, for text that is not ASCII
        self._ascii: re.Pattern[str] | None = None  # for lowered ASCII text
        self._raw: re.Pattern[bytes] | None = None  # for lowered bytes
        self._fold = True  # whether `_ascii` may stand in for `_text` on ASCII text
        self.add(values)

    @property
    def empty(self) -> bool:
        return not (self._uids or self._others)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            value = value.strip()
            if not _searchable(value):
                continue
            if _is_uid(value):
                self._uids.add(value)
                self._raw_uids.add(value.encode())
            elif value not in self._others:
                self._others.add(value)
                self._stale = True

    def _compile(self) -> None:
        self._stale = False
        others = sorted(self._others, key=len, reverse=True)
        # Only ASCII digits stand alone; other digits are searched as text.
        digits = [v for v in others if v.isascii() and v.isdigit()]
        texts = [v for v in others if not (v.isascii() and v.isdigit())]
        # Raw bytes: each text as UTF-8 and as Latin-1, spelt as Latin-1 code points; what
        # Latin-1 cannot encode as "?", as pydicom writes it then (dropping it instead would
        # leave a stub, "ð" of "ðŞ", that matches bytes of other values).
        raw_texts = {
            v.encode(encoding, "replace").lower().decode("latin-1")
            for v in texts
            for encoding in ("utf-8", "latin-1")
        }
        # ASCII text: each text as it would match there when `re` ignores case; a text with a
        # character that matches no ASCII one cannot be there.
        folds = [[_ascii_fold(char) for char in v] for v in texts]
        ascii_texts = {"".join(fold) for fold in folds if all(fold)}
        self._text = _compiled(_pattern(digits, texts), re.IGNORECASE)
        self._ascii = _compiled(_pattern(digits, sorted(ascii_texts, key=len, reverse=True)))
        self._fold = all(len(char) <= 1 for fold in folds for char in fold)
        raw_pattern = _pattern(digits, sorted(raw_texts, key=len, reverse=True))
        self._raw = re.compile(raw_pattern.encode("latin-1")) if raw_pattern else None

    def search(self, text: str) -> str | None:
        """The kind of the first identifying value in `text`, or None."""
        if self._stale:
            self._compile()
        if text.isascii() and self._fold:
            match = self._ascii.search(text.lower()) if self._ascii is not None else None
        else:
            match = self._text.search(text) if self._text is not None else None
        if match:
            return _value_kind(match.group(0))
        if self._uids and "." in text and not self._uids.isdisjoint(_UID_TOKEN.findall(text)):
            return "UID"
        return None

    def search_bytes(self, data: bytes) -> tuple[int, str] | None:
        """(offset, kind) of the first identifying value in `data`, or None."""
        if self._stale:
            self._compile()
        if self._raw is not None:
            match = self._raw.search(data.lower())  # same length: offsets hold
            if match:
                return match.start(), _value_kind(match.group(0).decode("latin-1"))
        if self._raw_uids and not self._raw_uids.isdisjoint(_UID_TOKEN_BYTES.findall(data)):
            for token in _UID_TOKEN_BYTES.finditer(data):
                if token.group(0) in self._raw_uids:
                    return token.start(), "UID"
        return None

    def scan_dataset(self, ds: Dataset, file: Path) -> list[Leak]:
        """Leaks in every element of `ds` (and its file meta) at every depth, pixel data aside."""
        if self.search(element_text(ds)) is None:
            return []  # no element holds a value: the walk below would find nothing
        meta = getattr(ds, "file_meta", None)
        leaks = list(_scan(meta, self, file, "file_meta")) if meta is not None else []
        leaks += _scan(ds, self, file, "")
        return leaks

    def scan_text(self, text: str, file: Path) -> list[Leak]:
        """Leaks in the elements of a written `file` whose `element_text` was `text`.

        The elements are named by reading the file back, which happens only on a hit, on
        the way to refusing the study.
        """
        kind = self.search(text)
        if kind is None:
            return []
        named = self.scan_dataset(pydicom.dcmread(file, force=True), file)
        return named or [Leak(file, "an element (not found again when read back)", kind)]

    def scan_bytes(self, parts: Iterable[tuple[bytes, int]], file: Path) -> Leak | None:
        """The first leak in the raw bytes of a file, given as (bytes, offset) parts."""
        for data, offset in parts:
            hit = self.search_bytes(data)
            if hit is not None:
                where, kind = hit
                return Leak(file, f"raw bytes at offset {offset + where}", kind)
        return None

    def scan_file(self, file: Path) -> list[Leak]:
        """Leaks in a written file: its elements, then its bytes outside the pixel data."""
        data = file.read_bytes()
        ds = pydicom.dcmread(BytesIO(data), force=True)
        leaks = self.scan_dataset(ds, file)
        if not leaks:
            raw = self.scan_bytes(outside(data, pixel_range(ds)), file)
            leaks += [raw] if raw is not None else []
        return leaks


def element_text(ds: Dataset) -> str:
    """The text of every element of `ds` (and its file meta) at every depth, pixel data
    aside, NUL between elements: what `LeakCheck.search` needs to see of a dataset."""
    pieces: list[str] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _gather(meta, pieces)
    _gather(ds, pieces)
    return "\x00".join(pieces)


def _gather(ds: Dataset, pieces: list[str]) -> None:
    for tag, raw in _elements(ds):
        if tag == PIXEL_DATA:
            continue
        vr = _vr_of(tag, raw)
        if vr in _NUMERIC_VRS:
            continue
        if vr == "SQ":
            for item in ds[tag].value or ():
                _gather(item, pieces)
            continue
        pieces.extend(_texts(ds, tag, raw, vr, split=False))


def outside(data: bytes, pixel_range: tuple[int, int]) -> list[tuple[bytes, int]]:
    """The (bytes, offset) parts of `data` before and after the pixel data value."""
    start, end = pixel_range
    return [(data[:start], 0), (data[end:], end)] if end else [(data, 0)]


def _path(prefix: str, tag: int) -> str:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{prefix}.{name}" if prefix else name


def _scan(ds: Dataset, check: LeakCheck, file: Path, prefix: str) -> Iterator[Leak]:
    for tag, raw in _elements(ds):
        if tag == PIXEL_DATA:
            continue
        vr = _vr_of(tag, raw)
        if vr in _NUMERIC_VRS:
            continue
        if vr == "SQ":
            path = _path(prefix, tag)
            for index, item in enumerate(ds[tag].value or ()):
                yield from _scan(item, check, file, f"{path}[{index}]")
            continue
        for text in _texts(ds, tag, raw, vr):
            kind = check.search(text)
            if kind is not None:
                yield Leak(file, _path(prefix, tag), kind)
                break


def pixel_range(ds: Dataset) -> tuple[int, int]:
    """Where the pixel data value of a dataset read from bytes lies in them; (0, 0) if none."""
    raw = ds.get_item(PIXEL_DATA)
    if isinstance(raw, RawDataElement) and raw.value is not None:
        return raw.value_tell, raw.value_tell + len(raw.value)
    return 0, 0


def find_leaks(files: Iterable[Path], identifying_values: Collection[str]) -> list[Leak]:
    """Every place in `files` that holds one of `identifying_values` (case-insensitive)."""
    check = LeakCheck(identifying_values)
    if check.empty:
        return []
    return [leak for file in files for leak in check.scan_file(file)]
