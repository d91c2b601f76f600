"""The Celery application. Configuration is `celeryconfig.py` at the repository root."""

from __future__ import annotations

from celery import Celery

app = Celery(
    "pixl",
    include=["pixl.tasks.retrieve", "pixl.tasks.anonymise", "pixl.tasks.upload"],
)
app.config_from_object("celeryconfig")
