"""Celery beat's jobs. Each runs at most once per period however many schedulers fire it:
the first run takes a Redis key for the period, the others see it and stop. The jobs are
idempotent too, so the embedded default (one scheduler, no Redis) needs no lock."""

from __future__ import annotations

import time
from datetime import timedelta

from pixl import components, housekeeping
from pixl.settings import get_settings
from pixl.tasks import study_chain
from pixl.tasks.app import app
from pixl.tasks.common import log

BEAT_LOCK_PREFIX = "pixl:beat:"


def first_in_period(job: str, period_seconds: float) -> bool:
    """True for the first caller in this period, across every machine (Redis SET NX)."""
    store = components.redis()
    if store is None:
        return True
    period = int(time.time() // period_seconds)
    key = f"{BEAT_LOCK_PREFIX}{job}:{period}"
    # Kept well past its period so runs stay countable; one small key per job and period.
    return bool(store.set(key, "1", nx=True, ex=max(3600, int(period_seconds * 2))))


def _publish(study_id: int, priority: int) -> None:
    study_chain(study_id, priority).apply_async()


@app.task(name="pixl.export_extracts")
def export_extracts() -> None:
    if not first_in_period("export_extracts", get_settings().beat_export_seconds):
        log.info("export_extracts: already run this period by another scheduler")
        return
    log.info("export_extracts: %d extracts exported", housekeeping.export_finished_extracts())


@app.task(name="pixl.retry_failed")
def retry_failed() -> None:
    if not first_in_period("retry_failed", get_settings().beat_retry_seconds):
        log.info("retry_failed: already run this period by another scheduler")
        return
    log.info("retry_failed: %d studies re-enqueued", housekeeping.retry_failed(_publish))


@app.task(name="pixl.clean_cache")
def clean_cache() -> None:
    settings = get_settings()
    if not first_in_period("clean_cache", settings.beat_clean_cache_seconds):
        log.info("clean_cache: already run this period by another scheduler")
        return
    age = timedelta(hours=settings.cache_keep_hours)
    log.info("clean_cache: %d studies deleted", housekeeping.clean_raw_cache(age))
