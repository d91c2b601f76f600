"""The Celery application. Configuration is `celeryconfig.py` at the repository root."""

from __future__ import annotations

from celery import Celery

from pixl.tasks.pacs_gate import PacsHoursGate

app = Celery(
    "pixl",
    include=[
        "pixl.tasks.retrieve",
        "pixl.tasks.anonymise",
        "pixl.tasks.upload",
        "pixl.tasks.failures",
    ],
)
app.config_from_object("celeryconfig")
app.steps["consumer"].add(PacsHoursGate)
