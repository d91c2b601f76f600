"""PACS opening hours: windows across midnight, weekends, time zones, bad specs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pixl.errors import ConfigError
from pixl.pacs_hours import DEFAULT_PACS_HOURS, PacsHours

LONDON = ZoneInfo("Europe/London")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-11-23 12:00", False),  # Monday noon
        ("2026-11-23 20:00", True),  # Monday evening, opening minute
        ("2026-11-24 06:59", True),  # Tuesday early morning, Monday's night
        ("2026-11-24 07:00", False),  # closing minute
        ("2026-11-23 03:00", False),  # Monday early morning: Sunday night is not a weekday night
        ("2026-11-28 06:00", True),  # Saturday morning ends Friday's night
        ("2026-11-28 21:00", False),  # Saturday evening
    ],
)
def test_default_is_weekday_nights(moment: str, expected: bool) -> None:
    assert PacsHours.parse(DEFAULT_PACS_HOURS).is_open(at(moment)) is expected


def test_seconds_until_open_points_at_the_next_window() -> None:
    hours = PacsHours.parse(DEFAULT_PACS_HOURS)
    assert hours.seconds_until_open(at("2026-11-23 19:00")) == 3600
    assert hours.seconds_until_open(at("2026-11-28 12:00")) == (2 * 24 + 8) * 3600
    assert hours.seconds_until_open(at("2026-11-23 22:00")) == 0


def test_time_zone_is_applied() -> None:
    hours = PacsHours.parse("daily 09:00-10:00", "America/New_York")
    assert hours.is_open(datetime(2026, 11, 23, 14, 30, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))


def test_several_entries_and_always() -> None:
    hours = PacsHours.parse("sat,sun 00:00-24:00; mon 12:00-13:00")
    assert hours.is_open(at("2026-11-29 23:59"))
    assert hours.is_open(at("2026-11-23 12:30"))
    assert not hours.is_open(at("2026-11-24 12:30"))
    assert PacsHours.parse("always").is_open(at("2026-11-24 12:30"))


@pytest.mark.parametrize("spec", ["weekdays 20:00-07:00", "mon-fri 25:00-07:00", "mon-fri", ""])
def test_bad_specs_are_named(spec: str) -> None:
    with pytest.raises(ConfigError, match="PIXL_PACS_HOURS"):
        PacsHours.parse(spec)
