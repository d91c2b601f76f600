"""Status of every project extract, read from the records (SPEC section 11)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from pixl.records.db import session_scope
from pixl.records.models import Extract, Study, StudyStatus, utcnow

PROBLEM_STATES = (StudyStatus.FAILED, StudyStatus.NOT_FOUND, StudyStatus.EXCLUDED)


@dataclass
class ExtractStatus:
    project_slug: str
    extract_datetime: str
    counts: dict[str, int] = field(default_factory=dict)
    found_in: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)  # "<status>: <reason>" -> count
    waiting_for_pacs: int = 0
    exported_last_hour: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.counts.items() if StudyStatus(s).is_final)

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"total": self.total, "finished": self.finished}


def extract_statuses() -> list[ExtractStatus]:
    """Counts by state, by source archive and by failure reason, per project extract."""
    statuses: dict[int, ExtractStatus] = {}
    with session_scope() as session:
        for extract in session.scalars(
            select(Extract).order_by(Extract.project_slug, Extract.extract_datetime)
        ):
            statuses[extract.id] = ExtractStatus(
                extract.project_slug, extract.extract_datetime.isoformat()
            )
        counts = session.execute(
            select(Study.extract_id, Study.status, Study.found_in, func.count()).group_by(
                Study.extract_id, Study.status, Study.found_in
            )
        )
        for extract_id, status, found_in, n in counts:
            entry = statuses[extract_id]
            entry.counts[status.value] = entry.counts.get(status.value, 0) + n
            if found_in and status is StudyStatus.EXPORTED:
                entry.found_in[found_in] = entry.found_in.get(found_in, 0) + n
        hour_ago = utcnow() - timedelta(hours=1)
        for extract_id, waiting, recent in session.execute(
            select(
                Study.extract_id,
                func.count().filter(Study.waiting_for == "pacs"),
                func.count().filter(Study.exported_at >= hour_ago),
            ).group_by(Study.extract_id)
        ):
            statuses[extract_id].waiting_for_pacs = waiting
            statuses[extract_id].exported_last_hour = recent
        problems = session.execute(
            select(Study.extract_id, Study.status, Study.last_error, func.count())
            .where(Study.status.in_(PROBLEM_STATES))
            .group_by(Study.extract_id, Study.status, Study.last_error)
        )
        for extract_id, status, reason, n in problems:
            statuses[extract_id].problems[f"{status.value}: {reason}"] = n
    return list(statuses.values())


def progress_bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + f"] {done}/{total}"


ORDER = [s.value for s in StudyStatus]


def render(statuses: list[ExtractStatus]) -> str:
    """A plain-text report a person can read at a glance."""
    if not statuses:
        return "No extracts recorded yet. Start with: python -m pixl enqueue PATH"
    lines: list[str] = []
    for entry in statuses:
        lines.append(f"{entry.project_slug}  extract {entry.extract_datetime}")
        lines.append("  " + progress_bar(entry.finished, entry.total))
        in_order = [f"{s}={entry.counts[s]}" for s in ORDER if s in entry.counts]
        lines.append("  " + "  ".join(in_order))
        if entry.exported_last_hour:
            lines.append(f"  exported in the last hour: {entry.exported_last_hour}")
        if entry.waiting_for_pacs:
            lines.append(f"  waiting for the PACS (secondary queue): {entry.waiting_for_pacs}")
        if entry.found_in:
            lines.append(
                "  exported from: "
                + ", ".join(f"{k}={v}" for k, v in sorted(entry.found_in.items()))
            )
        for reason, n in sorted(entry.problems.items()):
            lines.append(f"  {n} x {reason}")
    return "\n".join(lines)


def archive_lines(
    pacs_open: bool, pacs_opens_in_seconds: float, limits: list[dict[str, object]]
) -> list[str]:
    """What retrieval is waiting on: PACS hours, and each archive's cluster-wide limit."""
    lines = []
    if pacs_open:
        lines.append("PACS hours: open")
    else:
        lines.append(f"PACS hours: closed, opens in {pacs_opens_in_seconds / 3600:.1f} h")
    for snapshot in limits:
        if "holders" not in snapshot:
            lines.append(f"{snapshot['archive']}: cluster-wide limit off (no PIXL_REDIS_URL)")
            continue
        state = "PAUSED" if snapshot.get("paused") else f"{snapshot['rate_per_second']}/s"
        lines.append(
            f"{snapshot['archive']}: {state}, {snapshot['holders']}/{snapshot['max_concurrent']}"
            " transfers running"
        )
    return lines
