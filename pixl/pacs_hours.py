"""When the PACS may be queried: weekly opening windows in a time zone.

A spec is `;`-separated entries `DAYS HH:MM-HH:MM`, with DAYS `mon-fri`, `sat,sun`,
`daily`, or one day. A window whose end is not after its start runs past midnight and
belongs to the day it starts on: `mon-fri 20:00-07:00` opens Monday evening and closes
Tuesday morning, and its last night ends Saturday 07:00. `always` is always open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pixl.errors import ConfigError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DEFAULT_PACS_HOURS = "mon-fri 20:00-07:00"
_ENTRY = re.compile(
    r"^\s*(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\s*$"
)


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday, the day the window opens
    start: time
    length: timedelta


def _parse_days(text: str, spec: str) -> list[int]:
    if text == "daily":
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ConfigError("PIXL_PACS_HOURS", None, f"unknown day in {spec!r}; use mon..sun")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days += [(start + offset) % 7 for offset in range((end - start) % 7 + 1)]
    return days


def _parse_time(text: str, spec: str) -> time | None:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return None  # end of day
    if hours > 23 or minutes > 59:
        raise ConfigError("PIXL_PACS_HOURS", None, f"bad time {text!r} in {spec!r}")
    return time(hours, minutes)


@dataclass(frozen=True)
class PacsHours:
    windows: tuple[Window, ...]
    zone: ZoneInfo
    always: bool = False

    @classmethod
    def parse(cls, spec: str, timezone: str = "Europe/London") -> PacsHours:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                "PIXL_PACS_TIMEZONE", None, f"unknown time zone {timezone!r}"
            ) from exc
        if spec.strip().lower() == "always":
            return cls((), zone, always=True)
        windows: list[Window] = []
        for entry in filter(str.strip, spec.lower().split(";")):
            match = _ENTRY.match(entry)
            if match is None:
                raise ConfigError(
                    "PIXL_PACS_HOURS",
                    None,
                    f"cannot read {entry.strip()!r}; write e.g. 'mon-fri 20:00-07:00'",
                )
            start = _parse_time(match["start"], spec) or time(0)
            end = _parse_time(match["end"], spec)
            start_delta = timedelta(hours=start.hour, minutes=start.minute)
            end_delta = (
                timedelta(days=1) if end is None else timedelta(hours=end.hour, minutes=end.minute)
            )
            length = (
                end_delta - start_delta
                if end_delta > start_delta
                else end_delta + timedelta(days=1) - start_delta
            )
            windows += [Window(day, start, length) for day in _parse_days(match["days"], spec)]
        if not windows:
            raise ConfigError("PIXL_PACS_HOURS", None, "no opening window given")
        return cls(tuple(windows), zone)

    def _openings_around(self, moment: datetime) -> list[tuple[datetime, datetime]]:
        local = moment.astimezone(self.zone)
        spans = []
        for back in range(-7, 2):  # from 7 days ahead to yesterday
            day = (local - timedelta(days=back)).date()
            for window in self.windows:
                if day.weekday() == window.weekday:
                    opens = datetime.combine(day, window.start, tzinfo=self.zone)
                    spans.append((opens, opens + window.length))
        return spans

    def is_open(self, moment: datetime) -> bool:
        if self.always:
            return True
        return any(opens <= moment < closes for opens, closes in self._openings_around(moment))

    def seconds_until_open(self, moment: datetime) -> float:
        """0 when open now; else how long until the next window opens."""
        if self.is_open(moment):
            return 0.0
        upcoming = [opens for opens, _ in self._openings_around(moment) if opens > moment]
        return (min(upcoming) - moment).total_seconds()
