"""The embedded default's limiter: no Redis, so no cluster-wide limit.

One machine runs one retrieval worker there, and Celery's per-worker `rate_limit` and
prefetch still hold. Set `PIXL_REDIS_URL` to get the cluster-wide limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class Limiter(Protocol):
    """What a retrieve task needs of a limiter (`ArchiveLimiter` or `Unlimited`)."""

    def transfer(self, timeout: float) -> Any: ...
    def take(self, n: int = 1, *, timeout: float) -> None: ...
    def paused(self) -> bool: ...
    def snapshot(self) -> dict[str, Any]: ...


class Unlimited:
    """Every transfer and token granted at once."""

    def __init__(self, archive: str) -> None:
        self.archive = archive

    @contextmanager
    def transfer(self, timeout: float) -> Iterator[None]:
        yield None

    def take(self, n: int = 1, *, timeout: float) -> None:
        return None

    def paused(self) -> bool:
        return False

    def snapshot(self) -> dict[str, Any]:
        return {"archive": self.archive, "cluster_wide_limit": "off (no PIXL_REDIS_URL)"}
