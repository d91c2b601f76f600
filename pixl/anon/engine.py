"""De-identify instances and studies by a project's allow-list of tag operations.

One walk over each dataset: an element whose tag has no rule is deleted (private tags and
items inside sequences too), a kept sequence has its items filtered by the same rules, and
the other operations replace values (dummy by VR, pseudonym UID, keyed hash). Untouched
elements stay raw, so they are written back without being decoded.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import TypeVar

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    correct_ambiguous_vr,
    write_data_element,
    write_dataset,
    write_file_meta_info,
)
from pydicom.multival import MultiValue
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from pixl.anon.config import ProjectConfig, series_number_key
from pixl.anon.leaks import (
    PIXEL_DATA,
    STRING_VRS,
    LeakCheck,
    StudyValues,
    ascii_text,
    element_text,
    outside,
    pixel_range,
)
from pixl.anon.pixels import clean_pixels
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.anon.tagops import Op, RuleTable
from pixl.errors import AnonymisationError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

PIXL_IMPLEMENTATION_CLASS_UID = "2.25.164482951656998771559585214070472065444"
PIXL_IMPLEMENTATION_VERSION_NAME = "PIXL_0_1"
PATIENT_ID = 0x00100020
_PREAMBLE = b"\x00" * 128

_DUMMY_TEXT = "ANONYMISED"
# What `replace` writes, by VR; dates and times as PIXL (dicom-anonymizer) writes them.
_DUMMIES: dict[str, object] = {
    "PN": "ANON",
    "AE": "ANON",
    "DA": "00010101",
    "TM": "000000.00",
    "DT": "00010101010101.000000+0000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
    **dict.fromkeys(("CS", "LO", "SH", "LT", "ST", "UT", "UC"), _DUMMY_TEXT),
    **dict.fromkeys(("US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"), 0),
}
# An original value that is one of our dummies ("ANON") is no leak when the dummy appears.
_DUMMY_TEXTS = frozenset(v for v in _DUMMIES.values() if isinstance(v, str))
# `empty` keeps dates and times valid, as PIXL does; every other VR gets a zero-length value.
_EMPTIES = {vr: _DUMMIES[vr] for vr in ("DA", "TM", "DT")}
_HASH_LENGTH = {"SH": 16, "AE": 16, "CS": 16, "PN": 64, "LO": 64}
_TEXT_VRS = frozenset({"SH", "AE", "CS", "PN", "LO", "LT", "ST", "UT", "UC"})
_EMPTY_OPS = frozenset({Op.EMPTY, Op.DELETE_OR_EMPTY, Op.DELETE_OR_EMPTY_OR_REPLACE_UID})
_PLAIN_EMPTY_OPS = frozenset({Op.EMPTY, Op.DELETE_OR_EMPTY})
_SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})
_TAGS = {
    keyword: tag
    for keyword in (
        "Modality", "Manufacturer", "SeriesNumber", "SeriesDescription", "PatientID",
        "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "SOPClassUID",
    )
    if (tag := tag_for_keyword(keyword)) is not None
}  # fmt: skip


class DropReason(StrEnum):
    """Why an instance is not delivered."""

    MODALITY = "modality"
    MANUFACTURER = "manufacturer"
    SERIES_NUMBER = "series_number"
    SERIES_DESCRIPTION = "series_description"
    TOO_FEW_INSTANCES = "too_few_instances_in_series"
    UNREADABLE = "unreadable"  # not DICOM, truncated, no instance UIDs, undecodable element
    PIXELS_NOT_CLEANABLE = "burned_in_text_not_removable"  # a recipe applies, pixels resist


@dataclass(frozen=True)
class Dropped:
    """An instance not delivered; `reason` is a `DropReason` value, `detail` says more
    (never a value of the instance)."""

    reason: str
    detail: str = field(default="", compare=False)


@dataclass(frozen=True)
class AnonymisedInstance:
    """A de-identified instance, encoded as a DICOM file."""

    data: bytes
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    pixel_range: tuple[int, int] = (0, 0)  # where the pixel data element lies in `data`


@dataclass
class StudyResult:
    """What `anonymise_study` wrote and what it left out (reason -> instance count)."""

    pseudo_study_uid: str | None
    pseudo_patient_id: str | None
    files: list[Path] = field(default_factory=list)
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def _read(source: bytes | Path) -> Dataset | Dropped:
    """The dataset of one instance, or why it is not a readable DICOM instance."""
    try:
        if isinstance(source, bytes | bytearray | memoryview):
            ds = pydicom.dcmread(BytesIO(source), force=True)
        else:
            ds = pydicom.dcmread(source, force=True)
    except InvalidDicomError:
        return Dropped(DropReason.UNREADABLE.value, "not DICOM")
    except Exception as exc:  # pydicom raises many kinds on damaged files
        return Dropped(DropReason.UNREADABLE.value, f"not readable ({type(exc).__name__})")
    if _truncated(ds):
        return Dropped(DropReason.UNREADABLE.value, "truncated")
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
        if not _text(ds, keyword):
            return Dropped(DropReason.UNREADABLE.value, f"no {keyword}")
    return ds


def _truncated(ds: Dataset) -> bool:
    """Whether the file ended inside its last element (pydicom reads what there is)."""
    tags = list(ds.keys())  # in the order read
    if not tags:
        return True
    last = ds.get_item(tags[-1])
    return (
        isinstance(last, RawDataElement)
        and isinstance(last.value, bytes)
        and last.length != 0xFFFFFFFF
        and len(last.value) < last.length
    )


_TAG_IN_MESSAGE = re.compile(r"\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)")


def _undecodable(exc: Exception) -> Dropped:
    """An instance with an element pydicom cannot decode; says which tag, not its value."""
    tag = _TAG_IN_MESSAGE.search(str(exc))
    where = f" in {tag.group(0)}" if tag else ""
    problem = f"undecodable element{where} ({type(exc).__name__})"
    return Dropped(DropReason.UNREADABLE.value, problem)


def _per_instance(attempt: Callable[[], _T]) -> _T | Dropped:
    """Run `attempt`; an element that cannot be decoded drops this instance, not the study.
    An `AnonymisationError` (rules, leaks) still stops the study."""
    try:
        return attempt()
    except AnonymisationError:
        raise
    except Exception as exc:
        return _undecodable(exc)


def _text(ds: Dataset, keyword: str) -> str:
    """A top-level value as stripped text, decoded from the raw bytes when they are ASCII."""
    elem = ds.get_item(_TAGS[keyword])
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement) and isinstance(elem.value, bytes):
        text = ascii_text(elem.value)
        if text is not None:
            return text.strip("\x00 ")
        elem = ds[_TAGS[keyword]]
    return "" if elem.value is None else str(elem.value).strip()


def _raw_text(raw: RawDataElement, vr: str, text: str) -> RawDataElement | None:
    """A raw element holding `text`, padded to even length; None if `text` is not ASCII."""
    if not text.isascii():
        return None
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return RawDataElement(
        raw.tag, vr, len(data), data, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian
    )


def _encode(ds: Dataset) -> tuple[bytes, tuple[int, int]]:
    """The file bytes of `ds` (PS3.10) and where its pixel data element lies in them.

    What `dcmwrite(enforce_file_format=True)` does, without its deep copy of the file meta;
    deflated transfer syntaxes and re-encodings go through pydicom's own writers.
    """
    transfer_syntax = ds.file_meta.TransferSyntaxUID
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        buffer = BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        return buffer.getvalue(), (0, 0)  # compressed: the leak check scans it whole
    fp = DicomBytesIO()
    fp.write(_PREAMBLE + b"DICM")
    write_file_meta_info(fp, ds.file_meta, enforce_standard=True)
    fp.is_implicit_VR = transfer_syntax.is_implicit_VR
    fp.is_little_endian = transfer_syntax.is_little_endian
    pixel_data = ds.get_item(PIXEL_DATA)
    if pixel_data is not None and not isinstance(pixel_data, RawDataElement):
        pixel_data.is_undefined_length = transfer_syntax.is_compressed
    encoding = (fp.is_implicit_VR, fp.is_little_endian)
    if not encoding[1]:  # big endian (retired): pydicom's writer, pixel data found by reading
        write_dataset(fp, ds)
        data = fp.getvalue()
        return data, pixel_range(pydicom.dcmread(BytesIO(data), force=True))
    # Elements read in another encoding than the transfer syntax says (a mislabelled file),
    # or whose character set changed, are decoded and encoded again, as pydicom does.
    same_charset = ds.original_character_set == getattr(ds, "_character_set", None)
    convert = _read_encoding(ds) != encoding or not same_charset
    if convert:
        correct_ambiguous_vr(ds, True)
    pixels = _write_elements(fp, ds, convert)
    return fp.getvalue(), pixels


def _read_encoding(ds: Dataset) -> tuple[bool | None, bool | None]:
    """(implicit VR, little endian) as the dataset's raw elements were actually read."""
    for tag in ds.keys():  # noqa: SIM118 (tags, not elements)
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            return elem.is_implicit_VR, elem.is_little_endian
    return ds.original_encoding


_EXPLICIT_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}
)
_pack_implicit = struct.Struct("<HHI").pack
_pack_explicit_short = struct.Struct("<HH2sH").pack
_pack_explicit_long = struct.Struct("<HH2s2xI").pack


def _write_elements(fp: DicomBytesIO, ds: Dataset, convert: bool) -> tuple[int, int]:
    """`write_dataset` for a little-endian dataset; returns where the pixel data went.

    Raw elements of defined length are copied as they were read (PS3.5 7.1 headers), which
    is most of them; everything else, and everything when `convert`, goes through pydicom's
    element writer.
    """
    implicit = fp.is_implicit_VR
    write = fp.write
    charset = ds.get("SpecificCharacterSet", "iso8859")
    pixels = (0, 0)
    for tag in sorted(ds.keys()):
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0 and group > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        elem = ds[tag] if convert else ds.get_item(tag)
        if tag == PIXEL_DATA:
            start = fp.tell()
            write_data_element(fp, elem, charset)
            pixels = (start, fp.tell())
            continue
        value = elem.value if isinstance(elem, RawDataElement) else None
        if elem.VR == "UN":
            elem = ds[tag]  # decoding gives a known public tag its dictionary VR
        elif isinstance(value, bytes) and elem.length != 0xFFFFFFFF:
            if implicit:
                write(_pack_implicit(group, element, len(value)))
                write(value)
                continue
            vr = elem.VR
            if vr in _EXPLICIT_LONG_VRS:
                write(_pack_explicit_long(group, element, vr.encode(), len(value)))
                write(value)
                continue
            if vr is not None and len(vr) == 2 and len(value) <= 0xFFFF:
                write(_pack_explicit_short(group, element, vr.encode(), len(value)))
                write(value)
                continue
        write_data_element(fp, elem if elem.VR or implicit else ds[tag], charset)
    return pixels


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Anonymiser:
    """De-identifies instances for one project. Rules were compiled when the config loaded."""

    def __init__(self, config: ProjectConfig, pseudonymiser: Pseudonymiser) -> None:
        self.config = config
        self.pseudonyms = pseudonymiser
        self._modalities = frozenset(config.project.modalities)
        self._recipes = config.recipes

    # Selection

    def exclusion(self, ds: Dataset) -> Dropped | None:
        """Why the project does not want this instance, or None if it does."""
        if _text(ds, "Modality").upper() not in self._modalities:
            return Dropped(DropReason.MODALITY.value)
        excluded = self.config.excluded_series_numbers(_text(ds, "Manufacturer"))
        if excluded is None:
            return Dropped(DropReason.MANUFACTURER.value)
        if excluded and series_number_key(_text(ds, "SeriesNumber")) in excluded:
            return Dropped(DropReason.SERIES_NUMBER.value)
        if self.config.is_series_excluded(_text(ds, "SeriesDescription")):
            return Dropped(DropReason.SERIES_DESCRIPTION.value)
        return None

    def rules_for(self, ds: Dataset) -> RuleTable:
        return self.config.tag_operations.for_manufacturer(_text(ds, "Manufacturer"))

    # One instance

    def anonymise_instance(
        self, data: bytes | Path, participant_id: str | None = None
    ) -> AnonymisedInstance | Dropped:
        """De-identify one instance, or say why it is not delivered (the project excludes
        it, it is not readable, its burned-in text cannot be removed)."""

        def attempt() -> AnonymisedInstance | Dropped:
            ds = _read(data)
            if isinstance(ds, Dropped):
                return ds
            dropped = self.exclusion(ds)
            if dropped is not None:
                return dropped
            return self.anonymise_dataset(ds, self.rules_for(ds), participant_id)

        return _per_instance(attempt)

    def pseudo_patient_id(self, mrn: str, participant_id: str | None) -> str:
        """The PatientID delivered: the participant id if given, else the keyed hash of the MRN."""
        return participant_id or self.pseudonyms.hash_id(mrn)

    def anonymise_dataset(
        self, ds: Dataset, rules: RuleTable, participant_id: str | None = None
    ) -> AnonymisedInstance | Dropped:
        """De-identify `ds` in place (burned-in text by the project's recipes, then tags by
        `rules`) and encode it as a file; Dropped if a recipe applies but the pixel data
        cannot be cleaned."""
        if self._recipes is not None:
            problem = clean_pixels(ds, self._recipes)
            if problem is not None:
                return Dropped(DropReason.PIXELS_NOT_CLEANABLE.value, problem)
        patient_id = self.pseudo_patient_id(_text(ds, "PatientID"), participant_id)
        original_meta = getattr(ds, "file_meta", None)
        transfer_syntax = (
            original_meta.get("TransferSyntaxUID") if original_meta is not None else None
        )
        if transfer_syntax is None:
            implicit = ds.original_encoding[0] is not False
            transfer_syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        self._walk(ds, rules, patient_id)

        sop_uid, series_uid, study_uid = (
            _text(ds, "SOPInstanceUID"),
            _text(ds, "SeriesInstanceUID"),
            _text(ds, "StudyInstanceUID"),
        )
        if not (sop_uid and series_uid and study_uid):
            raise AnonymisationError(
                "the project's rules must keep or replace SOPInstanceUID, SeriesInstanceUID "
                "and StudyInstanceUID; an instance without them cannot be delivered"
            )
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(_text(ds, "SOPClassUID"))
        meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        meta.TransferSyntaxUID = UID(transfer_syntax)
        meta.ImplementationClassUID = UID(PIXL_IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = PIXL_IMPLEMENTATION_VERSION_NAME
        ds.file_meta = meta
        ds.preamble = _PREAMBLE  # the original may hide a TIFF header or text here
        data, pixels = _encode(ds)
        return AnonymisedInstance(data, sop_uid, series_uid, study_uid, patient_id, pixels)

    def _walk(self, ds: Dataset, rules: RuleTable, patient_id: str | None) -> None:
        ops, sequences = rules.ops, rules.sequences
        creators = []
        for tag in list(ds.keys()):
            op = ops.get(tag)
            if op is None:
                del ds[tag]
            elif op is Op.KEEP:
                if tag >> 16 & 1:
                    if 0x10 <= tag & 0xFFFF <= 0xFF:
                        creators.append(tag)
                    elif self._vr(ds, tag) == "SQ":
                        for item in ds[tag].value:
                            self._walk(item, rules, None)
                elif tag in sequences:
                    for item in ds[tag].value:
                        self._walk(item, rules, None)
            else:
                self._apply(ds, tag, op, rules, patient_id)
        for creator in creators:
            # A private creator whose block lost every element would be an empty promise.
            first = (creator & 0xFFFF0000) | (creator & 0xFF) << 8
            if not any(first <= tag <= first + 0xFF for tag in ds.keys()):  # noqa: SIM118 (tags, not elements)
                del ds[creator]

    @staticmethod
    def _vr(ds: Dataset, tag: int) -> str | None:
        elem = ds.get_item(tag)
        return None if elem is None else elem.VR

    def _apply(
        self, ds: Dataset, tag: int, op: Op, rules: RuleTable, patient_id: str | None
    ) -> None:
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
            vr = raw.VR or rules.vrs.get(tag)
            text = ascii_text(raw.value) if vr in STRING_VRS else None
            if vr is not None and text is not None:
                # Fast path: compute the new text from the raw bytes, store it raw.
                new = self._new_text(tag, op, vr, text.strip("\x00 "), patient_id)
                if new is None:
                    return
                replacement = _raw_text(raw, vr, new)
                if replacement is not None:
                    ds[tag] = replacement
                    return
        self._apply_decoded(ds, tag, op, rules, patient_id)

    def _new_text(self, tag: int, op: Op, vr: str, text: str, patient_id: str | None) -> str | None:
        """The replacement of a string value (None: leave it as it is). Mirrors `_apply_decoded`."""
        if tag == PATIENT_ID and patient_id is not None and op not in _EMPTY_OPS:
            return patient_id
        if not text:
            return None
        values = [text] if vr in _SINGLE_VALUED_VRS else text.split("\\")
        if vr == "UI" and op not in _PLAIN_EMPTY_OPS:
            uid = self.pseudonyms.uid
            return "\\".join(uid(v.strip("\x00 ")) for v in values)
        if op is Op.SECURE_HASH and vr in _TEXT_VRS:
            hash_id, length = self.pseudonyms.hash_id, _HASH_LENGTH.get(vr, 64)
            return "\\".join(hash_id(v.strip(), length) for v in values)
        if op in _EMPTY_OPS:
            return str(_EMPTIES.get(vr, ""))
        return str(_DUMMIES.get(vr, ""))

    def _apply_decoded(
        self, ds: Dataset, tag: int, op: Op, rules: RuleTable, patient_id: str | None
    ) -> None:
        elem = ds[tag]
        vr = elem.VR
        if vr == "SQ":
            if op in _PLAIN_EMPTY_OPS:
                elem.value = []
            else:
                for item in elem.value:
                    self._walk(item, rules, None)
            return
        if tag == PATIENT_ID and patient_id is not None and op not in _EMPTY_OPS:
            elem.value = patient_id
            return
        value = elem.value
        if value is None or value == "" or value == b"":
            return
        if vr == "UI" and op not in _PLAIN_EMPTY_OPS:
            elem.value = self._uids(value)
        elif op is Op.SECURE_HASH and vr in _TEXT_VRS:
            elem.value = self._hash(value, _HASH_LENGTH.get(vr, 64))
        elif op in _EMPTY_OPS:
            elem.value = _EMPTIES.get(vr)
        else:
            elem.value = _DUMMIES.get(vr, b"" if isinstance(value, bytes) else None)

    def _uids(self, value: object) -> str | list[str]:
        uid = self.pseudonyms.uid
        if isinstance(value, MultiValue | list):
            return [uid(str(v).strip()) for v in value]
        return uid(str(value).strip())

    def _hash(self, value: object, length: int) -> str | list[str]:
        hash_id = self.pseudonyms.hash_id
        if isinstance(value, MultiValue | list):
            return [hash_id(str(v).strip(), length) for v in value]
        return hash_id(str(value).strip(), length)

    # One study

    def anonymise_study(
        self,
        sources: Iterable[bytes | Path],
        output_dir: Path,
        participant_id: str | None = None,
    ) -> StudyResult:
        """De-identify a study into `<output_dir>/<sop_uid>.dcm`, one atomic write per file.

        Drops what the project excludes, instances that are not readable DICOM or whose
        burned-in text cannot be removed (the others go on), and series with fewer than
        `min_instances_per_series` kept instances. Every output is checked, once all are
        written, for the identifying values of every original of the study (each element at
        every depth, then the bytes outside the pixel data, as `find_leaks` does, from what
        was kept in memory, not by reading the files back): on a hit, deletes what it wrote
        and raises `AnonymisationError` naming file and tag, never the value.
        """
        result = StudyResult(pseudo_study_uid=None, pseudo_patient_id=None)
        dropped: Counter[str] = Counter()
        by_series: dict[str, list[Path]] = {}
        check = LeakCheck()
        originals = StudyValues()
        texts: dict[Path, str] = {}  # the text of every element, for the check at the end
        outsides: dict[Path, list[tuple[bytes, int]]] = {}  # bytes outside the pixel data
        written: dict[Path, None] = {}  # ordered set

        def attempt(source: bytes | Path) -> tuple[AnonymisedInstance, str] | Dropped:
            ds = _read(source)
            if isinstance(ds, Dropped):
                return ds
            if result.pseudo_study_uid is None:
                result.pseudo_study_uid = self.pseudonyms.uid(_text(ds, "StudyInstanceUID"))
                result.pseudo_patient_id = self.pseudo_patient_id(
                    _text(ds, "PatientID"), participant_id
                )
            excluded = self.exclusion(ds)
            if excluded is not None:
                return excluded
            rules = self.rules_for(ds)
            check.add(v for v in originals.of(ds, rules.kept) if v.upper() not in _DUMMY_TEXTS)
            instance = self.anonymise_dataset(ds, rules, participant_id)
            if isinstance(instance, Dropped):
                return instance
            return instance, element_text(ds)

        try:
            for source in sources:
                outcome = _per_instance(partial(attempt, source))
                if isinstance(outcome, Dropped):
                    dropped[outcome.reason] += 1
                    if outcome.detail:
                        log.warning(
                            "project %s: instance dropped, %s: %s",
                            self.config.slug,
                            outcome.reason,
                            outcome.detail,
                        )
                    continue
                instance, text = outcome
                path = output_dir / f"{instance.sop_instance_uid}.dcm"
                if path in written:
                    continue  # the same instance twice in the sources
                if not written:
                    output_dir.mkdir(parents=True, exist_ok=True)
                _atomic_write(path, instance.data)
                written[path] = None
                by_series.setdefault(instance.series_instance_uid, []).append(path)
                texts[path] = text
                outsides[path] = outside(instance.data, instance.pixel_range)

            for paths in by_series.values():
                if len(paths) < self.config.min_instances_per_series:
                    dropped[DropReason.TOO_FEW_INSTANCES.value] += len(paths)
                    for path in paths:
                        path.unlink()
                        del written[path]
            # Against the values of the whole study: elements, then the bytes of the others.
            found = [leak for path in written for leak in check.scan_text(texts[path], path)]
            flagged = {leak.file for leak in found}
            for path in written:
                if path not in flagged:
                    raw = check.scan_bytes(outsides[path], path)
                    found += [raw] if raw is not None else []
        except BaseException:
            _remove(written)
            raise
        if found:
            _remove(written)
            raise AnonymisationError(
                f"study refused: {len(found)} element(s) of the output hold an original "
                f"identifying value; first: {found[0]}. Nothing was kept; fix the project's "
                "tag operations."
            )
        result.files = list(written)
        result.kept = len(written)
        result.dropped = dict(dropped)
        return result


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
