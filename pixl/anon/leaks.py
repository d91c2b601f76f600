"""The last check before anything leaves: no original identifying value in the output.

`identifying_values_of` lists what an original instance reveals (names, IDs, dates,
instance UIDs, institution, free text); `find_leaks` searches de-identified files for those
values in every element at every depth, then in the file's raw bytes (pixel data aside) as
a second net. A `Leak` says where, never what.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
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
    if elem.VR:
        return str(elem.VR)
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


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


def _texts(ds: Dataset, tag: int, raw: DataElement | RawDataElement, vr: str) -> Iterator[str]:
    """The values of an element as text, from the raw bytes when they are plain ASCII.

    Decoding ASCII ourselves avoids pydicom's conversion, the bulk of the cost of a scan.
    """
    value = raw.value
    if isinstance(raw, RawDataElement) and isinstance(value, bytes):
        if vr not in STRING_VRS:
            yield value.decode("latin-1")
            return
        text = ascii_text(value)
        if text is not None:
            yield from (text,) if vr in ("LT", "ST", "UT") else text.split("\\")
            return
        value = ds[tag].value
    yield from _strings(value)


def identifying_values_of(ds: Dataset, kept_tags: Collection[int] = ()) -> set[str]:
    """The identifying values of an original instance, at every depth.

    Person names (whole and by component), the identifiers, dates, places and free text of
    `IDENTIFYING_TAGS`, and every non-standard UID. Values of elements in `kept_tags` (the
    project keeps them on purpose) are left out.
    """
    found: set[str] = set()
    kept: set[str] = set()
    _collect(ds, found, kept, kept_tags)
    return {v for v in found - kept if _searchable(v)}


def _collect(ds: Dataset, found: set[str], kept: set[str], kept_tags: Collection[int]) -> None:
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if raw is None:
            continue
        vr = _vr_of(tag, raw)
        if vr == "SQ":
            for item in ds[tag].value or ():
                _collect(item, found, kept, kept_tags)
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


def _pattern(digits: list[str], texts: list[str]) -> str:
    parts = []
    if digits:
        parts.append(rf"(?<![0-9])(?:{'|'.join(map(re.escape, digits))})(?![0-9])")
    if texts:
        parts.append("|".join(map(re.escape, texts)))
    return "|".join(parts)


class LeakCheck:
    """The values to look for, growing as originals are read.

    UIDs (thousands per study) are matched as whole tokens against a set; the other values
    (a few dozen) by one regex, where digits must not touch other digits and text is a
    case-insensitive substring. The regex is rebuilt only when a new non-UID value arrives,
    which after a study's first instance is rare.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._uids: set[str] = set()
        self._raw_uids: set[bytes] = set()
        self._others: set[str] = set()
        self._text: re.Pattern[str] | None = None
        self._raw: re.Pattern[bytes] | None = None
        self.add(values)

    @property
    def empty(self) -> bool:
        return not (self._uids or self._others)

    def add(self, values: Iterable[str]) -> None:
        new = False
        for value in values:
            value = value.strip()
            if not _searchable(value):
                continue
            if _is_uid(value):
                self._uids.add(value)
                self._raw_uids.add(value.encode())
            elif value not in self._others:
                self._others.add(value)
                new = True
        if new:
            self._compile()

    def _compile(self) -> None:
        others = sorted(self._others, key=len, reverse=True)
        digits = [v for v in others if v.isdigit()]
        texts = [v for v in others if not v.isdigit()]
        # Raw bytes: each text as UTF-8 and as Latin-1, spelt as Latin-1 code points.
        raw_texts = {
            v.encode(encoding, "ignore").decode("latin-1")
            for v in texts
            for encoding in ("utf-8", "latin-1")
        }
        self._text = re.compile(_pattern(digits, texts), re.IGNORECASE)
        raw_pattern = _pattern(digits, sorted(raw_texts, key=len, reverse=True))
        self._raw = re.compile(raw_pattern.encode("latin-1"), re.IGNORECASE)

    def search(self, text: str) -> str | None:
        """The kind of the first identifying value in `text`, or None."""
        if self._text is not None:
            match = self._text.search(text)
            if match:
                return _value_kind(match.group(0))
        if self._uids and "." in text:
            for token in _UID_TOKEN.findall(text):
                if token in self._uids:
                    return "UID"
        return None

    def search_bytes(self, data: bytes) -> tuple[int, str] | None:
        """(offset, kind) of the first identifying value in `data`, or None."""
        if self._raw is not None:
            match = self._raw.search(data)
            if match:
                return match.start(), _value_kind(match.group(0).decode("latin-1"))
        if self._raw_uids:
            for token in _UID_TOKEN_BYTES.finditer(data):
                if token.group(0) in self._raw_uids:
                    return token.start(), "UID"
        return None

    def scan_dataset(self, ds: Dataset, file: Path) -> list[Leak]:
        """Leaks in every element of `ds` (and its file meta) at every depth, pixel data aside."""
        meta = getattr(ds, "file_meta", None)
        leaks = list(_scan(meta, self, file, "file_meta")) if meta is not None else []
        leaks += _scan(ds, self, file, "")
        return leaks

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


def outside(data: bytes, pixel_range: tuple[int, int]) -> list[tuple[bytes, int]]:
    """The (bytes, offset) parts of `data` before and after the pixel data value."""
    start, end = pixel_range
    return [(data[:start], 0), (data[end:], end)] if end else [(data, 0)]


def _path(prefix: str, tag: int) -> str:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{prefix}.{name}" if prefix else name


def _scan(ds: Dataset, check: LeakCheck, file: Path, prefix: str) -> Iterator[Leak]:
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if raw is None or tag == PIXEL_DATA:
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
