import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from timeline import dates

precisions = st.sampled_from(dates.PRECISIONS)
days = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 1))


@given(days, precisions)
def test_a_period_contains_its_start_and_its_end(day, precision):
    start = dates.period_start(day, precision)
    end = dates.period_end(start, precision)
    assert dates.is_period_start(start, precision)
    assert start <= day <= end
    assert dates.period_start(end, precision) == start


@given(days, precisions)
def test_the_next_day_after_a_period_starts_a_new_one(day, precision):
    end = dates.period_end(dates.period_start(day, precision), precision)
    if end < dt.date(9999, 12, 31):
        assert dates.period_start(end + dt.timedelta(days=1), precision) != dates.period_start(day, precision)


def test_dates_are_shown_at_their_precision():
    assert dates.format_date(dt.date(1988, 2, 1), "month") == "February 1988"
    assert dates.format_date(dt.date(1992, 1, 1), "year") == "1992"
    assert dates.format_date(dt.date(2020, 11, 25), "day") == "25 November 2020"


def test_spans_are_shown_compactly():
    assert dates.format_span(dt.date(1992, 1, 1), "year", dt.date(1994, 1, 1), "year") == "1992\u20131994"
    assert dates.format_span(dt.date(2020, 11, 9), "day", dt.date(2020, 11, 10), "day") == "9\u201310 November 2020"
    assert (
        dates.format_span(dt.date(2020, 9, 27), "day", dt.date(2020, 11, 10), "day")
        == "27 September \u2013 10 November 2020"
    )


def test_iso_form_follows_precision():
    assert dates.iso_for_precision(dt.date(1988, 2, 1), "month") == "1988-02"
    assert dates.iso_for_precision(dt.date(1992, 1, 1), "year") == "1992"
    assert dates.iso_for_precision(dt.date(2020, 11, 25), "day") == "2020-11-25"
