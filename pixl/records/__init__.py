"""Records of extracts and studies (SQLAlchemy models, sessions, the queries tasks share)."""

from pixl.records.db import get_engine, migrate, session_scope
from pixl.records.models import CachedStudy, Extract, Study, StudyStatus

__all__ = [
    "CachedStudy",
    "Extract",
    "Study",
    "StudyStatus",
    "get_engine",
    "migrate",
    "session_scope",
]
