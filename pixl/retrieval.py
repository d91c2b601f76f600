"""Retrieval: bring one study from an archive into the raw cache, asking only for what is
missing, and verify that every instance arrived (SPEC section 4).

Knows nothing of Celery: the retrieve tasks call `retrieve_into_cache` and turn its result
or exceptions into record updates, re-routing and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pixl.dicom.cache import RawCache
from pixl.dicom.scu import DicomArchive
from pixl.errors import IncompleteTransferError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieved:
    """What retrieval left in the cache for one job."""

    held: dict[str, int]  # study UID -> instances held, verified
    moved: int

    @property
    def study_uids(self) -> list[str]:
        return list(self.held)

    @property
    def n_instances(self) -> int:
        return sum(self.held.values())


def find_study_uids(
    archive: DicomArchive, study_uid: str, mrn: str, accession_number: str
) -> list[str]:
    """C-FIND by Study Instance UID when known, else by Patient ID + Accession Number.

    The latter may match several studies; all of them are taken. An empty answer is asked
    again once before it is believed: "not in this archive" re-routes or ends the study, and
    pynetdicom 3.0 can lose a C-FIND response under load (the "unexpected C-FIND service
    message" warning), which looks just like no match.
    """
    for _ in range(2):
        if study_uid:
            matches = archive.find_studies(study_uid=study_uid)
        else:
            matches = archive.find_studies(mrn=mrn, accession_number=accession_number)
        if matches:
            break
    return sorted({match.study_uid for match in matches})


def complete_in_cache(cache: RawCache, expected_counts: dict[str, int]) -> bool:
    """Whether the cache still holds every instance of studies once verified complete."""
    if not expected_counts:
        return False
    for study_uid, expected in expected_counts.items():
        held = sum(len(sops) for sops in cache.instances(study_uid).values())
        if held < expected:
            return False
    return True


def _expected_series(
    archive: DicomArchive, study_uid: str, series_uids: Sequence[str]
) -> dict[str, int | None]:
    series = archive.find_series(study_uid)
    if series_uids:
        series = {uid: n for uid, n in series.items() if uid in set(series_uids)}
    return series


def fetch_study(
    archive: DicomArchive, cache: RawCache, study_uid: str, series_uids: Sequence[str] = ()
) -> tuple[int, int]:
    """C-MOVE what the cache lacks of one study (or of the named series), then verify.

    Returns (instances now held for the study or series, instances moved). Compares
    instance counts per series first and asks for SOP Instance UIDs only where counts
    differ, one series at a time.
    """
    expected = _expected_series(archive, study_uid, series_uids)
    if not expected:
        # The study matched, so it has series: an empty answer is a lost or refused
        # response, never a study with nothing to fetch.
        raise IncompleteTransferError(
            f"Study {study_uid}: {archive.node} listed none of its series"
            f"{' that the job names' if series_uids else ''}; will retry."
        )
    held = cache.instances(study_uid)
    whole_series: list[str] = []
    moved = 0
    for series_uid, count in expected.items():
        have = held.get(series_uid, set())
        if not have:
            whole_series.append(series_uid)
        elif count is None or len(have) < count:
            missing = archive.find_instances(study_uid, series_uid) - have
            if missing:
                outcome = archive.move(
                    cache.node.ae_title, study_uid, sop_uids={series_uid: sorted(missing)}
                )
                moved += outcome.completed
    if whole_series:
        if len(whole_series) == len(expected) and not series_uids:
            outcome = archive.move(cache.node.ae_title, study_uid)
        else:
            outcome = archive.move(cache.node.ae_title, study_uid, series_uids=whole_series)
        moved += outcome.completed
    return _verify(archive, cache, study_uid, expected), moved


def _verify(
    archive: DicomArchive, cache: RawCache, study_uid: str, expected: dict[str, int | None]
) -> int:
    held = cache.instances(study_uid)
    total = 0
    for series_uid, count in expected.items():
        have = held.get(series_uid, set())
        wanted = count if count is not None else len(archive.find_instances(study_uid, series_uid))
        if len(have) < wanted:
            raise IncompleteTransferError(
                f"Study {study_uid} series {series_uid}: the cache holds {len(have)} of "
                f"{wanted} instances after C-MOVE from {archive.node}; will retry."
            )
        total += len(have)
    if total == 0:
        raise IncompleteTransferError(
            f"Study {study_uid}: no instance is in the cache after C-MOVE from {archive.node}; "
            "will retry."
        )
    return total


def retrieve_into_cache(
    archive: DicomArchive, cache: RawCache, study_uids: list[str], series_uids: Sequence[str]
) -> Retrieved:
    """Fetch every matched study into the cache, each verified complete."""
    held: dict[str, int] = {}
    moved = 0
    for study_uid in study_uids:
        held[study_uid], moved_now = fetch_study(archive, cache, study_uid, series_uids)
        moved += moved_now
    return Retrieved(held=held, moved=moved)
