"""A simulated VNA/PACS: a Query/Retrieve SCP (PS3.4 Annex C) over a folder of `.dcm` files.

Serves C-ECHO, C-FIND (Patient Root and Study Root) and C-MOVE to known destinations, for
the demo and the tests. It can misbehave like real archives do: refuse IMAGE-level queries
without a series UID, or abort a C-MOVE after some instances. `stats` counts what it did.
Queries with an exact unique key (or PatientID and AccessionNumber) are answered from an
index built at start, so a cohort of thousands of studies costs no more per query than ten.

Run: `python -m pixl.dicom.simulated_archive --folder DIR --ae VNA --port 4243
--dest PIXLCACHE=127.0.0.1:11112`; prints "ready" once listening.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from itertools import product
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pynetdicom import AE, evt
from pynetdicom.events import Event

from pixl.dicom.network import (
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_MOVE,
    STUDY_ROOT_FIND,
    STUDY_ROOT_MOVE,
    VERIFICATION,
    run_until_signalled,
    serve_in_background,
    set_tcp_nodelay,
)
from pixl.settings import DicomNode

log = logging.getLogger(__name__)

#: Attributes indexed per instance (the record's field names are these keywords).
KEYS = (
    "PatientID",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "SOPInstanceUID",
)
#: The unique key of each Query/Retrieve level and the keys that may be matched at it.
UNIQUE_KEY = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
MATCH_KEYS = {"PATIENT": KEYS[:1], "STUDY": KEYS[:3], "SERIES": KEYS[:5], "IMAGE": KEYS}
#: Count return keys (PS3.4 C.3) -> the key whose related instances they count.
COUNT_KEYS = {
    "NumberOfPatientRelatedInstances": "PatientID",
    "NumberOfStudyRelatedInstances": "StudyInstanceUID",
    "NumberOfSeriesRelatedInstances": "SeriesInstanceUID",
}
UID_KEYS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}
#: Keys looked up in an index when a query gives them exact values, most selective first;
#: a query with none of them (wildcards, universal matching) scans every instance.
INDEXES = (
    ("SOPInstanceUID",),
    ("SeriesInstanceUID",),
    ("StudyInstanceUID",),
    ("PatientID", "AccessionNumber"),
)
WILDCARDS = ("*", "?")

#: PS3.4 C.4.1.1.4 / C.4.2.1.5 statuses used here.
PENDING = 0xFF00
CANCEL = 0xFE00
IDENTIFIER_DOES_NOT_MATCH = 0xA900
UNABLE_TO_PROCESS = 0xC000


@dataclass(frozen=True)
class Instance:
    """One indexed file."""

    path: Path
    sop_class_uid: str
    transfer_syntax: str
    attrs: dict[str, str]


@dataclass
class ArchiveStats:
    """What the archive has done: for throughput and throttling tests."""

    moves: int = 0
    instances_sent: int = 0
    peak_concurrent_associations: int = 0
    full_scans: int = 0  # C-FINDs and C-MOVEs with no exact key to look up
    instances_per_move: list[int] = field(default_factory=list)
    move_started_at: list[float] = field(default_factory=list)  # time.monotonic()


class SimulatedArchive:
    """An in-process Q/R SCP; `start()` indexes `folder` and listens, `stop()` ends it."""

    def __init__(
        self,
        folder: Path,
        node: DicomNode,
        move_destinations: Mapping[str, tuple[str, int]],
        refuse_instance_level_without_series: bool = False,
        abort_after: int | None = None,
        seconds_per_instance: float = 0.0,
        empty_answers: Mapping[str, int] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.node = node
        self.move_destinations = dict(move_destinations)
        self.refuse_instance_level_without_series = refuse_instance_level_without_series
        self.abort_after = abort_after
        # Slows each C-STORE sub-operation, as a busy archive does (throttle and crash tests).
        self.seconds_per_instance = seconds_per_instance
        # Answer the first N C-FINDs at a level with no match, as a lost response looks to
        # the SCU (pynetdicom can drop one under load): level -> N.
        self.empty_answers = dict(empty_answers or {})
        self.instances: list[Instance] = []
        self._counts: Counter[tuple[str, str]] = Counter()  # (keyword, value) -> instances
        # INDEXES entry -> its keys' values -> positions in `instances`, ascending
        self._indexes: dict[tuple[str, ...], dict[tuple[str, ...], list[int]]] = {}
        self._stats = ArchiveStats()
        self._open_associations = 0
        self._lock = threading.Lock()
        self._ae: AE | None = None  # set while serving

    @property
    def stats(self) -> ArchiveStats:
        """A snapshot of the counters."""
        with self._lock:
            return replace(
                self._stats,
                instances_per_move=list(self._stats.instances_per_move),
                move_started_at=list(self._stats.move_started_at),
            )

    def start(self) -> None:
        """Index the folder and start listening in background threads."""
        self._index()
        self._ae = ae = AE(ae_title=self.node.ae_title)
        ae.require_called_aet = True  # as real archives do: a wrong AE title is rejected
        services = (VERIFICATION, PATIENT_ROOT_FIND, PATIENT_ROOT_MOVE)
        for sop_class in (*services, STUDY_ROOT_FIND, STUDY_ROOT_MOVE):
            ae.add_supported_context(sop_class)
        # Contexts the C-MOVE sub-associations request: each stored (SOP class, syntax) pair,
        # at most 128 (PS3.8 9.3.2.2: odd presentation context IDs 1-255).
        pairs = sorted({(i.sop_class_uid, i.transfer_syntax) for i in self.instances})
        for abstract_syntax, syntax in pairs[:128]:
            ae.add_requested_context(abstract_syntax, syntax)
        serve_in_background(
            ae,
            (self.node.host, self.node.port),
            [
                (evt.EVT_CONN_OPEN, self._on_conn_open),
                (evt.EVT_CONN_CLOSE, self._on_conn_close),
                (evt.EVT_C_FIND, self._on_c_find),
                (evt.EVT_C_MOVE, self._on_c_move),
            ],
        )
        log.info("simulated archive %s serving %d instances", self.node, len(self.instances))

    def stop(self) -> None:
        """Stop listening and abort every open association."""
        if self._ae is not None:
            self._ae.shutdown()
            self._ae = None

    def _index(self) -> None:
        self.instances = []
        for path in sorted(self.folder.rglob("*.dcm")):
            try:
                ds = dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, OSError) as exc:
                log.warning("skipping %s: %s", path, exc)
                continue
            attrs = {key: str(ds.get(key, "")) for key in KEYS}
            self.instances.append(
                Instance(path, str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID), attrs)
            )
        self._counts = Counter(
            (key, instance.attrs[key]) for instance in self.instances for key in COUNT_KEYS.values()
        )
        self._indexes = {keys: {} for keys in INDEXES}
        for position, instance in enumerate(self.instances):
            for keys, index in self._indexes.items():
                values = tuple(instance.attrs[key] for key in keys)
                index.setdefault(values, []).append(position)

    def _on_conn_open(self, event: Event) -> None:
        set_tcp_nodelay(event)
        with self._lock:
            self._open_associations += 1
            peak = max(self._stats.peak_concurrent_associations, self._open_associations)
            self._stats.peak_concurrent_associations = peak

    def _on_conn_close(self, event: Event) -> None:
        with self._lock:
            self._open_associations -= 1

    def _on_c_find(self, event: Event) -> Iterator[tuple[int | Dataset, Dataset | None]]:
        """EVT_C_FIND: one pending response per matching entity at the query's level."""
        query = event.identifier
        level = str(query.get("QueryRetrieveLevel", ""))
        if level not in UNIQUE_KEY:
            yield IDENTIFIER_DOES_NOT_MATCH, None
            return
        if (
            level == "IMAGE"
            and self.refuse_instance_level_without_series
            and not query.get("SeriesInstanceUID")
        ):
            refusal = Dataset()
            refusal.Status = UNABLE_TO_PROCESS
            refusal.ErrorComment = "IMAGE level query needs a SeriesInstanceUID"
            yield refusal, None
            return
        with self._lock:
            lose = self.empty_answers.get(level, 0) > 0
            if lose:
                self.empty_answers[level] -= 1
        if lose:
            return
        seen: set[str] = set()
        for instance in self._match(query, level):
            unique = instance.attrs[UNIQUE_KEY[level]]
            if unique in seen:
                continue
            seen.add(unique)
            if event.is_cancelled:
                yield CANCEL, None
                return
            yield PENDING, self._response(query, level, instance)

    def _response(self, query: Dataset, level: str, instance: Instance) -> Dataset:
        """The query's keys filled in from `instance` and the index's counts."""
        rsp = Dataset()
        rsp.QueryRetrieveLevel = level
        for element in query:
            keyword = element.keyword
            if keyword in MATCH_KEYS[level]:
                setattr(rsp, keyword, instance.attrs[keyword])
            elif keyword in COUNT_KEYS:
                key = COUNT_KEYS[keyword]
                setattr(rsp, keyword, self._counts[(key, instance.attrs[key])])
            elif keyword != "QueryRetrieveLevel":
                rsp.add_new(element.tag, element.VR, None)  # a return key we do not hold
        rsp.RetrieveAETitle = self.node.ae_title
        return rsp

    def _match(self, query: Dataset, level: str) -> list[Instance]:
        """Instances matching every non-empty key of `query` valid at `level` (PS3.4 C.2.2.2).

        UIDs match exactly or against a UID list; other keys match with `*` and `?` wildcards.
        An exact unique key, or PatientID and AccessionNumber, narrows the instances to check
        through an index; without one, every instance is checked.
        """
        conditions = {key: query.get(key) for key in MATCH_KEYS[level] if query.get(key)}
        candidates, looked_up = self._lookup(conditions)
        rest = [(key, value) for key, value in conditions.items() if key not in looked_up]
        return [
            instance
            for instance in candidates
            if all(_key_matches(key, value, instance.attrs[key]) for key, value in rest)
        ]

    def _lookup(self, conditions: Mapping[str, Any]) -> tuple[list[Instance], tuple[str, ...]]:
        """The instances that may match `conditions`, in index order, and the keys they match
        already: those of the first index given exact values, else every instance and none."""
        for keys, index in self._indexes.items():
            wanted: list[list[str]] = []
            for key in keys:
                values = _exact_values(key, conditions[key]) if key in conditions else None
                if values is None:
                    break
                wanted.append(values)
            else:
                positions = {p for values in product(*wanted) for p in index.get(values, ())}
                return [self.instances[p] for p in sorted(positions)], keys
        with self._lock:
            self._stats.full_scans += 1
        return self.instances, ()

    def _on_c_move(self, event: Event) -> Iterator[Any]:
        """EVT_C_MOVE: destination, number of sub-operations, then one C-STORE per instance."""
        destination = self.move_destinations.get(event.move_destination or "")
        if destination is None:
            yield None, None  # pynetdicom answers 0xA801, Move Destination unknown
            return
        query = event.identifier
        level = str(query.get("QueryRetrieveLevel", ""))
        matches = self._match(query, level) if level in UNIQUE_KEY else []
        with self._lock:
            self._stats.moves += 1
            self._stats.instances_per_move.append(len(matches))
            self._stats.move_started_at.append(time.monotonic())
        yield (*destination, {"evt_handlers": [(evt.EVT_CONN_OPEN, set_tcp_nodelay)]})
        yield len(matches)
        for sent, instance in enumerate(matches):
            if event.is_cancelled:
                yield CANCEL, None
                return
            if self.abort_after is not None and sent >= self.abort_after:
                log.info("fault injection: aborting the C-MOVE after %d instances", sent)
                event.assoc.abort()
                return
            if self.seconds_per_instance:
                time.sleep(self.seconds_per_instance)
            yield PENDING, dcmread(instance.path)
            with self._lock:
                self._stats.instances_sent += 1


def _uids(wanted: Any) -> list[str]:
    """A UID key's value as the list of UIDs it matches (one, or a UID list)."""
    wanted_list = list(wanted) if isinstance(wanted, MultiValue | list) else [wanted]
    return [str(uid) for uid in wanted_list]


def _exact_values(key: str, wanted: Any) -> list[str] | None:
    """The values `wanted` matches exactly at `key`; None if it is a wildcard pattern."""
    if key in UID_KEYS:
        return _uids(wanted)
    text = str(wanted)
    return None if any(wildcard in text for wildcard in WILDCARDS) else [text]


def _key_matches(key: str, wanted: Any, value: str) -> bool:
    if key in UID_KEYS:
        return value in _uids(wanted)
    pattern = str(wanted).replace("[", "[[]")
    return fnmatchcase(value, pattern)


def main(argv: list[str] | None = None) -> None:
    """Serve a folder as an archive in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--ae", default="VNA")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=4243)
    parser.add_argument(
        "--dest", action="append", default=[], metavar="AE=HOST:PORT", help="C-MOVE destination"
    )
    parser.add_argument("--refuse-instance-level-without-series", action="store_true")
    parser.add_argument("--abort-after", type=int, default=None)
    args = parser.parse_args(argv)
    destinations: dict[str, tuple[str, int]] = {}
    for dest in args.dest:
        ae_title, _, address = dest.partition("=")
        host, _, port = address.rpartition(":")
        if not (ae_title and host and port.isdigit()):
            parser.error(f"--dest {dest!r}: expected AE=HOST:PORT")
        destinations[ae_title] = (host, int(port))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    archive = SimulatedArchive(
        args.folder,
        DicomNode(ae_title=args.ae, host=args.host, port=args.port),
        destinations,
        refuse_instance_level_without_series=args.refuse_instance_level_without_series,
        abort_after=args.abort_after,
    )
    run_until_signalled(archive.start, archive.stop)


if __name__ == "__main__":
    main()
