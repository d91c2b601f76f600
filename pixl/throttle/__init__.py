"""Cluster-wide limit per archive, held in Redis: N concurrent transfers, R per second.

In a retrieve task, around the archive's part only (C-FIND + C-MOVE), one token per study:

    limiter = ArchiveLimiter(redis, "vna", limits_file=data_dir / "limits.json")
    try:
        with limiter.transfer(timeout=300):
            limiter.take(1, timeout=300)
            ...  # C-FIND, C-MOVE
    except ThrottledError:  # also ArchivePausedError
        raise Reject(requeue=True)  # back to the queue; no retry spent, no ETA pile-up

Limits change at runtime with `set_limits` (or `python -m pixl rate QUEUE RATE`); rate 0
pauses the archive: waiters block on a Redis channel, not in a polling loop.
"""

from __future__ import annotations

from pixl.throttle.errors import ArchivePausedError, LimitsError, ThrottledError
from pixl.throttle.limiter import ArchiveLimiter, TransferSlot
from pixl.throttle.limits import Limits, get_limits, restore_limits, set_limits

__all__ = [
    "ArchiveLimiter",
    "ArchivePausedError",
    "Limits",
    "LimitsError",
    "ThrottledError",
    "TransferSlot",
    "get_limits",
    "restore_limits",
    "set_limits",
]
