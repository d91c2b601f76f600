"""Query/retrieve SCU: C-FIND and C-MOVE against an archive (PS3.4 Annex C, Study Root).

`DicomArchive` opens one association per call, or keeps one open for a group of calls
when used as a context manager. Every failure (association rejected or aborted, timeout,
failure status) raises `ArchiveError` naming the archive and the study UID, never a
patient identifier.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.status import STATUS_PENDING, STATUS_SUCCESS, STATUS_WARNING, code_to_category

from pixl.dicom.network import STUDY_ROOT_FIND, STUDY_ROOT_MOVE, VERIFICATION, set_tcp_nodelay
from pixl.errors import ArchiveError
from pixl.settings import DicomNode

#: UIDs per IMAGE-level C-MOVE: a UI element's value is at most 64 KiB in explicit VR.
MAX_UIDS_PER_MOVE = 500


@dataclass(frozen=True)
class StudyMatch:
    """One STUDY-level C-FIND match."""

    study_uid: str
    n_instances: int | None  # NumberOfStudyRelatedInstances, when the archive returns it


@dataclass(frozen=True)
class MoveOutcome:
    """Sub-operation counts of a C-MOVE's final response (PS3.4 C.4.2.1.6)."""

    completed: int = 0
    failed: int = 0
    warning: int = 0

    def __add__(self, other: MoveOutcome) -> MoveOutcome:
        return MoveOutcome(
            self.completed + other.completed,
            self.failed + other.failed,
            self.warning + other.warning,
        )


def _count(value: object) -> int | None:
    """An IS or US count from a response, or None when empty or absent."""
    if value is None or value == "":
        return None
    return int(str(value))


class DicomArchive:
    """A query/retrieve SCP (VNA or PACS) seen from pixl, the SCU."""

    def __init__(self, node: DicomNode, calling_ae: str, timeout: float = 30) -> None:
        self.node = node
        self.timeout = timeout
        self._ae = AE(ae_title=calling_ae)
        self._ae.add_requested_context(STUDY_ROOT_FIND)
        self._ae.add_requested_context(STUDY_ROOT_MOVE)
        self._ae.add_requested_context(VERIFICATION)
        for attr in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(self._ae, attr, timeout)
        self._held: Association | None = None

    def __enter__(self) -> DicomArchive:
        """Keep one association open for every call inside the `with` block."""
        self._held = self._associate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        held, self._held = self._held, None
        if held is not None and held.is_established:
            held.release()

    def echo(self) -> None:
        """C-ECHO (PS3.4 Annex A): raise `ArchiveError` unless the archive answers."""
        with self._association("C-ECHO") as assoc:
            self._check(assoc.send_c_echo(), "C-ECHO")

    def find_studies(
        self, study_uid: str = "", mrn: str = "", accession_number: str = ""
    ) -> list[StudyMatch]:
        """STUDY-level C-FIND by StudyInstanceUID, else by PatientID + AccessionNumber."""
        query = _identifier("STUDY", NumberOfStudyRelatedInstances="")
        if study_uid:
            query.StudyInstanceUID = study_uid
            what = f"C-FIND STUDY {study_uid}"
        elif mrn or accession_number:
            query.StudyInstanceUID = ""
            query.PatientID = mrn
            query.AccessionNumber = accession_number
            what = "C-FIND STUDY by patient ID and accession number"
        else:
            raise ValueError("find_studies needs a study UID, an MRN or an accession number")
        matches: dict[str, StudyMatch] = {}
        for ds in self._find(query, what):
            uid = str(ds.get("StudyInstanceUID", ""))
            if uid:
                n = _count(ds.get("NumberOfStudyRelatedInstances"))
                matches[uid] = StudyMatch(uid, n)
        return list(matches.values())

    def find_series(self, study_uid: str) -> dict[str, int | None]:
        """SERIES-level C-FIND: series UID -> NumberOfSeriesRelatedInstances (or None)."""
        query = _identifier(
            "SERIES",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID="",
            NumberOfSeriesRelatedInstances="",
        )
        return {
            str(ds.SeriesInstanceUID): _count(ds.get("NumberOfSeriesRelatedInstances"))
            for ds in self._find(query, f"C-FIND SERIES of study {study_uid}")
            if ds.get("SeriesInstanceUID")
        }

    def find_instances(self, study_uid: str, series_uid: str) -> set[str]:
        """IMAGE-level C-FIND of one series (always with its UID: some archives require it)."""
        query = _identifier(
            "IMAGE",
            StudyInstanceUID=study_uid,
            SeriesInstanceUID=series_uid,
            SOPInstanceUID="",
        )
        what = f"C-FIND IMAGE of study {study_uid} series {series_uid}"
        found = self._find(query, what)
        return {str(ds.SOPInstanceUID) for ds in found if ds.get("SOPInstanceUID")}

    def move(
        self,
        dest_ae: str,
        study_uid: str,
        series_uids: Sequence[str] = (),
        sop_uids: Mapping[str, Sequence[str]] | None = None,
    ) -> MoveOutcome:
        """C-MOVE a whole study, some series, or given instances (series UID -> SOP UIDs).

        IMAGE-level moves go one series at a time, SOP UIDs as a UID list (PS3.4 C.4.2.2.1).
        """
        if sop_uids:
            queries = [
                (
                    _identifier(
                        "IMAGE",
                        StudyInstanceUID=study_uid,
                        SeriesInstanceUID=series,
                        SOPInstanceUID=list(sops[i : i + MAX_UIDS_PER_MOVE]),
                    ),
                    f"C-MOVE of {len(sops[i : i + MAX_UIDS_PER_MOVE])} instances "
                    f"of study {study_uid} series {series} to {dest_ae}",
                )
                for series, sops in sop_uids.items()
                for i in range(0, len(sops), MAX_UIDS_PER_MOVE)
            ]
        elif series_uids:
            query = _identifier(
                "SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID=list(series_uids)
            )
            what = f"C-MOVE of {len(series_uids)} series of study {study_uid} to {dest_ae}"
            queries = [(query, what)]
        else:
            query = _identifier("STUDY", StudyInstanceUID=study_uid)
            queries = [(query, f"C-MOVE of study {study_uid} to {dest_ae}")]
        outcome = MoveOutcome()
        with self._association(queries[0][1]) as assoc:
            for query, what in queries:
                outcome += self._move_one(assoc, dest_ae, query, what)
        return outcome

    def _move_one(self, assoc: Association, dest_ae: str, query: Dataset, what: str) -> MoveOutcome:
        final: Dataset | None = None
        for status, _ in assoc.send_c_move(query, dest_ae, STUDY_ROOT_MOVE):
            category = self._check(status, what)
            if category != STATUS_PENDING:
                final = status
        if final is None:
            raise ArchiveError(f"{self.node}: {what}: no final response")
        return MoveOutcome(
            completed=_count(final.get("NumberOfCompletedSuboperations")) or 0,
            failed=_count(final.get("NumberOfFailedSuboperations")) or 0,
            warning=_count(final.get("NumberOfWarningSuboperations")) or 0,
        )

    def _find(self, query: Dataset, what: str) -> list[Dataset]:
        """Run one C-FIND and return the identifiers of its pending responses."""
        with self._association(what) as assoc:
            responses = assoc.send_c_find(query, STUDY_ROOT_FIND)
            return [
                identifier
                for status, identifier in responses
                if self._check(status, what) == STATUS_PENDING and identifier is not None
            ]

    def _check(self, status: Dataset, what: str) -> str:
        """The status category of a response (PS3.7 Annex C); raise on anything but success,
        pending or warning. An empty status means no response: timeout or abort."""
        if "Status" not in status:
            raise ArchiveError(
                f"{self.node}: {what}: no response within {self.timeout:g} s or association "
                "aborted; retry later"
            )
        code = int(status.Status)
        category = code_to_category(code)
        if category not in (STATUS_PENDING, STATUS_SUCCESS, STATUS_WARNING):
            comment = status.get("ErrorComment", "")
            detail = f" ({comment})" if comment else ""
            raise ArchiveError(f"{self.node}: {what}: {category} status 0x{code:04X}{detail}")
        return category

    @contextmanager
    def _association(self, what: str) -> Iterator[Association]:
        """Inside `with archive:` the held association (re-opened if lost), else a new one
        released on exit. On any error it is aborted: its state is unknown mid-operation."""
        holding = self._held is not None
        if self._held is not None and not self._held.is_established:
            self._held = self._associate(what)
        assoc = self._held if self._held is not None else self._associate(what)
        try:
            yield assoc
        except BaseException:
            assoc.abort()
            raise
        if not holding and assoc.is_established:
            assoc.release()

    def _associate(self, what: str = "association") -> Association:
        assoc = self._ae.associate(
            self.node.host,
            self.node.port,
            ae_title=self.node.ae_title,
            evt_handlers=[(evt.EVT_CONN_OPEN, set_tcp_nodelay)],
        )
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            reason = "association rejected (check the called/calling AE titles)"
        elif assoc.is_aborted:
            reason = "association aborted during negotiation"
        else:
            reason = f"cannot connect within {self.timeout:g} s"
        raise ArchiveError(f"{self.node}: {what}: {reason}")


def _identifier(level: str, **keys: object) -> Dataset:
    """A Query/Retrieve Identifier (PS3.4 C.4.1.1.3) at `level` with the given keys."""
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds
