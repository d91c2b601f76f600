"""The Celery application. Configuration is `celeryconfig.py` at the repository root."""

from __future__ import annotations

import logging

from celery import Celery

from pixl.tasks.pacs_gate import PacsHoursGate

app = Celery(
    "pixl",
    include=[
        "pixl.tasks.retrieve",
        "pixl.tasks.anonymise",
        "pixl.tasks.upload",
        "pixl.tasks.failures",
        "pixl.tasks.scheduled",
    ],
)
app.config_from_object("celeryconfig")
# pynetdicom narrates every association at INFO; one line per study from pixl is enough.
logging.getLogger("pynetdicom").setLevel(logging.WARNING)
app.steps["consumer"].add(PacsHoursGate)
