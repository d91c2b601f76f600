"""Errors of the cluster-wide archive limit."""

from __future__ import annotations

from pixl.errors import PixlError


class ThrottledError(PixlError):
    """No transfer slot or rate token came within the timeout. Transient: try again later."""

    def __init__(self, archive: str, what: str, timeout: float) -> None:
        self.archive = archive
        self.what = what
        self.timeout = timeout
        super().__init__(self._message())

    def _message(self) -> str:
        return (
            f"archive '{self.archive}': no {self.what} within {self.timeout:g} s; "
            "the archive is at its limit, try again later"
        )


class ArchivePausedError(ThrottledError):
    """The archive stayed paused (rate 0) for the whole timeout."""

    def _message(self) -> str:
        return (
            f"archive '{self.archive}' is paused (rate 0): no {self.what} within "
            f"{self.timeout:g} s; resume it with `python -m pixl rate QUEUE RATE`"
        )


class LimitsError(PixlError, ValueError):
    """A limit value (concurrency, rate, burst) or a queue name is invalid."""
