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
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

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
        for text in _strings(ds[tag].value):
            text = text.strip()
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


def _value_kind(match: str) -> str:
    if match.isdigit():
        return "number or date"
    if "." in match and match.replace(".", "").isdigit():
        return "UID"
    return "text"


def _pattern(digits: list[str], texts: list[str]) -> str:
    parts = []
    if digits:
        parts.append(rf"(?<![0-9])(?:{'|'.join(map(re.escape, digits))})(?![0-9])")
    if texts:
        parts.append("|".join(map(re.escape, texts)))
    return "|".join(parts)


class _Matcher:
    """One regex over all values: digits must not touch other digits, text is a substring."""

    def __init__(self, values: Iterable[str]) -> None:
        unique = sorted({v.strip() for v in values if _searchable(v)}, key=len, reverse=True)
        digits = [v for v in unique if v.isdigit()]
        texts = [v for v in unique if not v.isdigit()]
        # Raw bytes: each text as UTF-8 and as Latin-1, spelt as Latin-1 code points.
        raw_texts = {
            v.encode(encoding, "ignore").decode("latin-1")
            for v in texts
            for encoding in ("utf-8", "latin-1")
        }
        self.empty = not unique
        self.text = re.compile(_pattern(digits, texts), re.IGNORECASE)
        raw_pattern = _pattern(digits, sorted(raw_texts, key=len, reverse=True))
        self.raw = re.compile(raw_pattern.encode("latin-1"), re.IGNORECASE)


def _path(prefix: str, tag: int) -> str:
    name = keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return f"{prefix}.{name}" if prefix else name


def _scan(ds: Dataset, pattern: re.Pattern[str], file: Path, prefix: str) -> Iterator[Leak]:
    for elem in ds:
        path = _path(prefix, elem.tag)
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or Sequence()):
                yield from _scan(item, pattern, file, f"{path}[{index}]")
            continue
        if elem.tag == PIXEL_DATA or elem.VR in ("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"):
            continue
        for text in _strings(elem.value):
            match = pattern.search(text)
            if match:
                yield Leak(file, path, _value_kind(match.group(0)))
                break


def _pixel_range(ds: Dataset) -> tuple[int, int]:
    raw = ds.get_item(PIXEL_DATA)
    if isinstance(raw, RawDataElement) and raw.value is not None:
        return raw.value_tell, raw.value_tell + len(raw.value)
    return 0, 0


def find_leaks(files: Iterable[Path], identifying_values: Collection[str]) -> list[Leak]:
    """Every place in `files` that holds one of `identifying_values` (case-insensitive)."""
    matcher = _Matcher(identifying_values)
    if matcher.empty:
        return []
    leaks: list[Leak] = []
    for file in files:
        data = file.read_bytes()
        ds = pydicom.dcmread(file, force=True)
        start, end = _pixel_range(ds)
        file_leaks = list(_scan(ds.file_meta, matcher.text, file, "file_meta"))
        file_leaks += _scan(ds, matcher.text, file, "")
        if not file_leaks:
            for part, offset in ((data[:start], 0), (data[end:], end)) if end else ((data, 0),):
                hit = matcher.raw.search(part)
                if hit:
                    kind = _value_kind(hit.group(0).decode("latin-1"))
                    file_leaks.append(
                        Leak(file, f"raw bytes at offset {offset + hit.start()}", kind)
                    )
                    break
        leaks += file_leaks
    return leaks
