"""Domain exceptions. Each says what went wrong, where, and what to do about it."""

from __future__ import annotations


class PixlError(Exception):
    """Base of every error pixl raises on purpose."""


class ConfigError(PixlError):
    """A settings value or a project config file is invalid."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}, field '{field}'" if field else source
        super().__init__(f"{where}: {problem}")


class CohortError(PixlError):
    """A cohort file is malformed. Nothing of that file is enqueued."""

    def __init__(
        self, file: str, problem: str, row: int | None = None, column: str | None = None
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.problem = problem
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}. Nothing was enqueued; fix the file and run again.")


class ArchiveError(PixlError):
    """Talking DICOM to an archive or the cache failed (association, timeout, refused move).

    Transient by default: the task retries it with back-off.
    """


class StudyNotFoundError(PixlError):
    """The study is in none of the archives asked."""


class IncompleteTransferError(ArchiveError):
    """A C-MOVE finished but the cache does not hold every instance the archive reported."""


class AnonymisationError(PixlError):
    """De-identification refused a study (for example a leak check hit). Not retried."""


class UploadError(PixlError):
    """Delivery to a destination failed. Retryable unless `permanent` is set."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class SecretNotFoundError(PixlError):
    """A secret the project needs is not configured."""
