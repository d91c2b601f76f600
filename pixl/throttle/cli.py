"""`python -m pixl rate QUEUE [RATE] [--concurrent N]`: show or change an archive's limits.

Plain functions returning the text to print; the argument parsing lives in `pixl.__main__`.
"""

from __future__ import annotations

from pathlib import Path

from redis import Redis

from pixl.throttle.errors import LimitsError
from pixl.throttle.limiter import ArchiveLimiter
from pixl.throttle.limits import set_limits

# Retrieval queue -> the archive its tasks pull from (celeryconfig.py has the queues).
ARCHIVE_OF_QUEUE = {"primary": "vna", "secondary": "pacs"}

_PER = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def archive_of(name: str) -> str:
    """The archive behind a queue name; an archive name is accepted as itself."""
    if name in ARCHIVE_OF_QUEUE:
        return ARCHIVE_OF_QUEUE[name]
    if name in ARCHIVE_OF_QUEUE.values():
        return name
    queues = ", ".join(f"{queue} ({archive})" for queue, archive in ARCHIVE_OF_QUEUE.items())
    raise LimitsError(f"unknown queue '{name}': expected one of {queues}")


def parse_rate(text: str) -> float:
    """Per second from `5`, `0.5`, `5/s`, `120/m`, `3600/h`, or `pause` (0)."""
    value, _, unit = text.strip().lower().partition("/")
    if value == "pause" and not unit:
        return 0.0
    try:
        number = float(value) / _PER[unit or "s"]
    except (KeyError, ValueError):
        raise LimitsError(
            f"rate '{text}' not understood: give a number per second (5, 0.5), "
            "a number per unit (5/s, 120/m, 3600/h), or 'pause'"
        ) from None
    if not number >= 0 or number == float("inf"):
        raise LimitsError(f"rate '{text}' must be a finite number >= 0")
    return number


def rate_command(
    redis: Redis,
    archive: str,
    rate: str | None,
    concurrent: int | None,
    *,
    limits_file: Path | None = None,
) -> str:
    """With neither `rate` nor `concurrent`: the current limits and load. Otherwise set what
    is given and echo the new limits next to the old."""
    name = archive_of(archive)
    label = f"{name} (queue {archive})" if name != archive else name
    limiter = ArchiveLimiter(redis, name, limits_file=limits_file)
    if rate is None and concurrent is None:
        now = limiter.snapshot()
        return (
            f"{label}: {limiter.limits().describe()}; "
            f"{now['holders']} transfer(s) running, {now['tokens']:.1f} token(s) available"
        )
    before = limiter.limits()
    per_second = None if rate is None else parse_rate(rate)
    after = set_limits(redis, name, concurrent, per_second, limits_file=limits_file)
    return f"{label}: set to {after.describe()} (was {before.describe()})"
