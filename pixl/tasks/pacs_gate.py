"""Stop consuming the secondary (PACS) queue outside the PACS's hours.

A worker bootstep checks the opening hours every `PIXL_PACS_HOURS_CHECK_SECONDS` and
cancels or resumes its consumer of `secondary`. Outside hours the messages stay in the
broker's queue, in order: nothing spins, nothing piles up in worker memory, and no retry is
spent. A message already prefetched when the window closes is put back by the task itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from celery import bootsteps

from pixl.pacs_hours import PacsHours
from pixl.settings import get_settings

log = logging.getLogger("pixl.tasks")
SECONDARY = "secondary"


@lru_cache(maxsize=1)
def pacs_hours() -> PacsHours:
    settings = get_settings()
    return PacsHours.parse(settings.pacs_hours, settings.pacs_timezone)


def pacs_open_now() -> bool:
    return pacs_hours().is_open(datetime.now(UTC))


class PacsHoursGate(bootsteps.StartStopStep):
    """Consumer bootstep: follow the PACS hours on workers that consume `secondary`."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer_ref: Any = None
        self.gated = False

    def start(self, consumer: Any) -> None:
        if SECONDARY not in consumer.app.amqp.queues.consume_from and not self.gated:
            return
        self.check(consumer)
        interval = get_settings().pacs_hours_check_seconds
        self.timer_ref = consumer.timer.call_repeatedly(interval, self.check, (consumer,))

    def check(self, consumer: Any) -> None:
        is_open = pacs_open_now()
        if not is_open and not self.gated:
            consumer.cancel_task_queue(SECONDARY)
            self.gated = True
            wait = pacs_hours().seconds_until_open(datetime.now(UTC))
            log.info("outside PACS hours: secondary queue paused for %.0f min", wait / 60)
        elif is_open and self.gated:
            consumer.add_task_queue(SECONDARY)
            self.gated = False
            log.info("inside PACS hours: secondary queue resumed")

    def stop(self, consumer: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
