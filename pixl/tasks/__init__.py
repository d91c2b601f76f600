"""Thin Celery tasks over pixl's plain modules, and how a study's chain is submitted."""

from __future__ import annotations

from celery import chain

from pixl.tasks.anonymise import anonymise
from pixl.tasks.app import app
from pixl.tasks.retrieve import retrieve_primary, retrieve_secondary
from pixl.tasks.upload import upload


def declare_topology() -> None:
    """Declare the exchange, queues and bindings before publishing.

    A message sent to a topic exchange with no queue bound yet is dropped by the broker, so
    the publisher must not rely on a worker having started first.
    """
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in app.conf.task_queues:
            queue.bind(channel).declare()


def study_chain(study_id: int, priority: int = 1) -> chain:
    """retrieve -> anonymise -> upload for one study record."""
    options = {"priority": priority}
    return chain(
        retrieve_primary.si(study_id).set(**options),
        anonymise.si(study_id).set(**options),
        upload.si(study_id).set(**options),
    )


__all__ = [
    "anonymise",
    "app",
    "declare_topology",
    "retrieve_primary",
    "retrieve_secondary",
    "study_chain",
    "upload",
]
