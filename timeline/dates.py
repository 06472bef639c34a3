"""Dates known to a precision: a day, a month or a year.

A date is stored as the first day of its period ("February 1988" is
1988-02-01 at month precision) so that it sorts and filters like any date;
its period ends on ``period_end``. These are pure functions shared by the
models, the importer, the pages and the API.
"""

import calendar
import datetime as dt

DAY = "day"
MONTH = "month"
YEAR = "year"
PRECISIONS = (DAY, MONTH, YEAR)


def is_period_start(value: dt.date, precision: str) -> bool:
    """True when ``value`` is the first day of its period at ``precision``."""
    if precision == DAY:
        return True
    if precision == MONTH:
        return value.day == 1
    if precision == YEAR:
        return value.day == 1 and value.month == 1
    return False


def period_start(value: dt.date, precision: str) -> dt.date:
    if precision == MONTH:
        return value.replace(day=1)
    if precision == YEAR:
        return value.replace(month=1, day=1)
    return value


def period_end(value: dt.date, precision: str) -> dt.date:
    """The last day of the period that ``value`` starts."""
    if precision == MONTH:
        return value.replace(day=calendar.monthrange(value.year, value.month)[1])
    if precision == YEAR:
        return value.replace(month=12, day=31)
    return value


def format_date(value: dt.date, precision: str) -> str:
    """'25 November 2020', 'February 1988' or '1992'."""
    if precision == YEAR:
        return str(value.year)
    if precision == MONTH:
        return f"{calendar.month_name[value.month]} {value.year}"
    return f"{value.day} {calendar.month_name[value.month]} {value.year}"


def format_span(
    start: dt.date, start_precision: str, end: dt.date | None = None, end_precision: str | None = None
) -> str:
    """A date or a span at its real precision: '1992-1994', '9-10 November 2020'."""
    if end is None or (end == start and (end_precision or start_precision) == start_precision):
        return format_date(start, start_precision)
    end_precision = end_precision or start_precision
    if start_precision == end_precision == YEAR:
        return f"{start.year}\u2013{end.year}"
    if start_precision == end_precision == MONTH and start.year == end.year:
        return f"{calendar.month_name[start.month]}\u2013{calendar.month_name[end.month]} {end.year}"
    if start_precision == end_precision == DAY and start.year == end.year:
        if start.month == end.month:
            return f"{start.day}\u2013{end.day} {calendar.month_name[end.month]} {end.year}"
        return f"{start.day} {calendar.month_name[start.month]} \u2013 {format_date(end, DAY)}"
    return f"{format_date(start, start_precision)} \u2013 {format_date(end, end_precision)}"


def iso_for_precision(value: dt.date, precision: str) -> str:
    """The ISO 8601 form at the given precision, for <time datetime>: '1988-02', '1992'."""
    if precision == YEAR:
        return f"{value.year:04d}"
    if precision == MONTH:
        return f"{value.year:04d}-{value.month:02d}"
    return value.isoformat()


class DatedEntry:
    """``date_display`` and ``date_iso`` of a timeline entry: anything with ``date``, ``date_precision``,
    ``end_date`` and ``end_date_precision`` (``models.Event``, ``selectors.TimelineEntry``)."""

    __slots__ = ()

    @property
    def date_display(self) -> str:
        return format_span(self.date, self.date_precision, self.end_date, self.end_date_precision or None)

    @property
    def date_iso(self) -> str:
        return iso_for_precision(self.date, self.date_precision)
