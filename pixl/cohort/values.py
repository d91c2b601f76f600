"""Parsing and naming of the values found in cohort files: text, dates, project slugs."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from slugify import slugify


def clean_text(value: object) -> str:
    """Text of a cell with surrounding whitespace stripped; None and NaN become ""."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def parse_datetime(value: object) -> datetime:
    """An ISO-8601 datetime as an aware UTC datetime; naive values are taken to be UTC.

    Raises ValueError when the value is not a date or datetime.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        text = clean_text(value)
        if not text:
            raise ValueError("empty")
        parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: object) -> date:
    """An ISO-8601 date; a datetime is accepted and its (local) date taken.

    Raises ValueError when the value is not a date or datetime.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = clean_text(value)
    if not text:
        raise ValueError("empty")
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text).date()


def slugify_project(name: str) -> str:
    """The project slug used in records, paths and settings, e.g. "My Project" -> "my-project"."""
    return str(slugify(name))


def extract_datetime_slug(dt: datetime) -> str:
    """The extract datetime as a path-safe name sorting in time order: "2020-06-10t18-00-00".

    Aware datetimes are converted to UTC; naive ones are taken to be UTC already.
    """
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dt%H-%M-%S")
