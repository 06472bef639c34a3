"""Planner statistics kept current during bulk loads (timeline.planner)."""

import pytest
from django.db import connection

from timeline import planner, synthetic
from timeline.models import Event

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ANALYZE and planner statistics are PostgreSQL's"
)


def _estimated_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def test_growth_statistics_analyze_at_first_then_at_each_doubling(monkeypatch):
    analyzed = []
    monkeypatch.setattr(planner, "analyze", lambda tables: analyzed.append(tables))
    statistics = planner.GrowthStatistics({"timeline_event": ["id"]}, first=100)
    for _ in range(9):  # 900 rows in steps of 100: analyzed at 100, 200, 400 and 800
        statistics.grew(100)
    assert statistics.runs == len(analyzed) == 4
    statistics.grew(5000)  # one big step: one run, and the next at the next doubling above it
    assert statistics.runs == 5
    assert statistics.next == 6400


@postgresql_only
@pytest.mark.django_db
def test_analyze_counts_the_rows_of_the_open_transaction():
    synthetic.generate(events=300, seed=3, chunk_size=100)
    planner.analyze({"timeline_event": ["id", "slug"]})
    assert _estimated_rows("timeline_event") >= 300
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_stats WHERE tablename = 'timeline_event' ORDER BY attname")
        assert [row[0] for row in cursor.fetchall()] == ["id", "slug"]  # only the columns asked for


@postgresql_only
@pytest.mark.django_db
def test_generate_keeps_the_event_statistics_current(monkeypatch):
    # Without it the foreign-key checks at each chunk's commit scan the events table (10 min for 100k).
    synthetic.generate(events=400, seed=3, chunk_size=100)
    assert _estimated_rows("timeline_event") >= 400


@postgresql_only
@pytest.mark.django_db
def test_import_keeps_the_event_statistics_current(monkeypatch, tmp_path):
    from timeline import dataset

    synthetic.generate(events=50, seed=4)
    exported = dataset.dumps()
    Event.objects.filter(origin=Event.Origin.EDITORIAL).delete()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE timeline_event")
    monkeypatch.setattr(dataset, "BATCH", 10)
    dataset.load_text(exported)
    assert _estimated_rows("timeline_event") >= 50
