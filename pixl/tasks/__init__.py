"""Thin Celery tasks over pixl's plain modules, and how a study's chain is submitted."""

from __future__ import annotations

from celery import chain

from pixl.tasks.anonymise import anonymise
from pixl.tasks.app import app
from pixl.tasks.retrieve import retrieve_primary, retrieve_secondary
from pixl.tasks.upload import upload


def study_chain(study_id: int, priority: int = 1) -> chain:
    """retrieve -> anonymise -> upload for one study record."""
    options = {"priority": priority}
    return chain(
        retrieve_primary.si(study_id).set(**options),
        anonymise.si(study_id).set(**options),
        upload.si(study_id).set(**options),
    )


__all__ = ["anonymise", "app", "retrieve_primary", "retrieve_secondary", "study_chain", "upload"]
