"""The synthetic data generator: deterministic, realistic, and cheap in queries."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from timeline import dates, synthetic
from timeline.models import (
    Citation,
    Conflict,
    District,
    DistrictAlias,
    Event,
    Handover,
    Postponement,
    PublicationStatus,
)
from timeline.selectors import district_ids_matching

pytestmark = pytest.mark.django_db


class _Rollback(Exception):
    pass


def _snapshot():
    return (
        list(Event.objects.order_by("slug").values_list("slug", "date", "date_precision", "end_date", "span_end")),
        list(District.objects.order_by("slug").values_list("slug", "name")),
        list(DistrictAlias.objects.order_by("district__slug", "language", "name").values_list("name", "language")),
        list(Handover.objects.order_by("district__slug").values_list("district__slug", "status", "completed_on")),
    )


def _generate_and_roll_back(**kwargs):
    """Generate, take a snapshot, and leave the database as it was."""
    try:
        with transaction.atomic():
            synthetic.generate(**kwargs)
            snapshot = _snapshot()
            raise _Rollback
    except _Rollback:
        return snapshot


def test_the_same_seed_gives_the_same_data():
    first = _generate_and_roll_back(events=300, seed=7)
    second = _generate_and_roll_back(events=300, seed=7)
    assert len(first[0]) > 300
    assert first == second


def test_another_seed_gives_other_data():
    assert _generate_and_roll_back(events=50, seed=1)[1] != _generate_and_roll_back(events=50, seed=2)[1]


def test_the_chunk_size_does_not_change_the_data():
    assert _generate_and_roll_back(events=120, seed=3, chunk_size=7) == _generate_and_roll_back(
        events=120, seed=3, chunk_size=500
    )


def test_it_writes_n_published_editorial_events_over_at_least_three_conflicts():
    report = synthetic.generate(events=500, seed=1)
    editorial = Event.objects.filter(origin=Event.Origin.EDITORIAL)
    assert editorial.count() == 500
    assert report.events == 500
    assert Conflict.objects.count() == 3
    assert set(editorial.values_list("conflict", flat=True).distinct()) == set(Conflict.objects.values_list("pk", flat=True))
    assert not Event.objects.exclude(publication_status=PublicationStatus.PUBLISHED).exists()
    assert report.derived_events == Event.objects.exclude(origin=Event.Origin.EDITORIAL).count()


def test_one_conflict_per_twenty_thousand_events_above_the_minimum():
    assert synthetic.conflict_count(10) == 3
    assert synthetic.conflict_count(100_000) == 5
    assert synthetic.conflict_count(1_000_000) == 50


@pytest.fixture(scope="class")
def dataset(django_db_setup, django_db_blocker):
    """One generated dataset shared by the read-only tests of a class, rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield synthetic.generate(events=1500, seed=5)
        transaction.set_rollback(True)


@pytest.mark.usefixtures("db")
class TestOneDataset:
    def test_dates_respect_their_precision_and_span_end_covers_the_period(self, dataset):
        events = list(Event.objects.values("date", "date_precision", "end_date", "end_date_precision", "span_end"))
        precisions = {e["date_precision"] for e in events}
        assert precisions == {dates.DAY, dates.MONTH, dates.YEAR}
        for e in events:
            assert dates.is_period_start(e["date"], e["date_precision"])
            end, end_precision = e["end_date"] or e["date"], e["end_date_precision"] or e["date_precision"]
            assert e["span_end"] == dates.period_end(end, end_precision)
        month = [e["date"] for e in events if e["date_precision"] == dates.MONTH]
        assert {d.day for d in month} == {1}
        assert any(e["end_date"] is not None for e in events)

    def test_events_have_districts_parties_citations_and_some_are_claims(self, dataset):
        editorial = Event.objects.filter(origin=Event.Origin.EDITORIAL)
        assert editorial.filter(districts__isnull=False).distinct().count() > 1200
        assert editorial.filter(parties__isnull=True).count() == 0
        assert not editorial.filter(citations__isnull=True).exists()
        assert Citation.objects.filter(event__in=editorial).count() >= 1500
        assert 100 < editorial.filter(claimed_by__isnull=False).count() < 700
        # Links stay inside the event's own conflict.
        assert not editorial.exclude(districts__isnull=True).exclude(districts__conflict=F("conflict")).exists()

    def test_districts_have_aliases_in_several_scripts_that_search_finds(self, dataset):
        district = District.objects.filter(kind=District.Kind.DISTRICT).order_by("slug").first()
        names = dict(district.aliases.values_list("language", "name"))
        assert {"en", "az", "ru"} <= set(names)
        assert names["az"] == district.name and names["az"] != names["en"]
        assert any("\u0400" <= ch <= "\u04ff" for ch in names["ru"])  # Cyrillic
        third = names.get("hy") or names.get("ka")
        assert third and any("\u0530" <= ch <= "\u058f" or "\u10a0" <= ch <= "\u10ff" for ch in third)
        languages = set(DistrictAlias.objects.values_list("language", flat=True))
        assert {"hy", "ka"} <= languages
        assert district.pk in set(district_ids_matching(names["ru"]).values_list("pk", flat=True))

    def test_handovers_are_completed_late_postponed_and_pending_with_their_derived_entries(self, dataset):
        statuses = sorted(Handover.objects.filter(district__conflict__slug=Conflict.objects.first().slug).values_list("status", flat=True))
        assert statuses == ["completed", "completed", "completed", "postponed", "scheduled", "scheduled"]
        late = [h for h in Handover.objects.select_related("deadline") if h.delay_days and h.delay_days > 0]
        assert len(late) >= 6  # 'late' and 'postponed_then_done' in each of the three conflicts
        assert Postponement.objects.count() == 6
        origins = set(Event.objects.values_list("origin", flat=True))
        assert origins == {o.value for o in Event.Origin}
        today = dt.date.today()
        assert Handover.objects.filter(status="scheduled", deadline__due_on__lt=today).count() == 3  # overdue
        assert Handover.objects.filter(status="scheduled", deadline__due_on__gt=today).count() == 3  # in the future

    def test_bulk_rows_write_no_history(self, dataset):
        bulk = Event.objects.filter(origin=Event.Origin.EDITORIAL).values_list("pk", flat=True)
        assert not Event.history.filter(id__in=list(bulk)).exists()
        assert Event.history.exclude(origin=Event.Origin.EDITORIAL).exists()


def _queries(events: int) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        _generate_and_roll_back(events=events, seed=9, chunk_size=1000)
    sqls = [q["sql"].lstrip().upper() for q in captured.captured_queries]
    inserts = sum(1 for sql in sqls if sql.startswith("INSERT"))
    return inserts, len(sqls) - inserts


def test_queries_grow_with_chunks_not_with_rows():
    inserts_2k, others_2k = _queries(2000)
    inserts_4k, others_4k = _queries(4000)
    # Reads and the structure do not depend on the number of events; each extra
    # chunk of 1,000 adds a few statements (a savepoint and its release; on
    # PostgreSQL also the id reservation and the COPY set-up): a handful, not 1,000.
    assert others_4k - others_2k <= 2 * 6
    # Rows are batched: SQLite takes at most 999 parameters a statement, about
    # 20 events with their links; PostgreSQL copies a whole chunk a table.
    assert inserts_4k - inserts_2k <= 2000 // 15


def test_it_refuses_a_database_that_already_holds_synthetic_data():
    synthetic.generate(events=10, seed=1)
    with pytest.raises(synthetic.SyntheticError, match="already holds synthetic data"):
        synthetic.generate(events=10, seed=2)


def test_the_command_reports_speed_and_memory():
    out = StringIO()
    call_command("generate_synthetic", "--events", "200", "--seed", "3", stdout=out)
    text = out.getvalue()
    assert "Generated 200 events" in text
    assert "events/s" in text and "peak RSS" in text
    assert Event.objects.filter(origin=Event.Origin.EDITORIAL).count() == 200


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--events", "0"], "--events must be greater than 0 (got 0)"),
        (["--events", "-5"], "--events must be greater than 0 (got -5)"),
        (["--events", "ten"], "--events must be a whole number (got 'ten')"),
        (["--events", "10", "--seed", "x"], "--seed must be a whole number (got 'x')"),
        (["--events", "10", "--chunk-size", "0"], "--chunk-size must be greater than 0 (got 0)"),
    ],
)
def test_the_command_rejects_bad_arguments_with_a_message(argv, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("generate_synthetic", *argv)
    assert not Event.objects.exists()


def test_the_command_exits_non_zero_on_bad_input(capsys):
    from django.core.management import ManagementUtility

    with pytest.raises(SystemExit) as exit_info:
        ManagementUtility(["manage.py", "generate_synthetic", "--events", "0"]).execute()
    assert exit_info.value.code != 0
    assert "--events must be greater than 0" in capsys.readouterr().err
