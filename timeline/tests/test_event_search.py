"""Searching events (``?q=``): folded text, district names and aliases, and the index behind it."""

import datetime as dt
import importlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from timeline import selectors, synthetic
from timeline.models import Event
from timeline.tests import factories

EVENTS = "/api/v1/events/"
OTHER_EVENTS_FOR_THE_PLANNER = 20_000
MIGRATION = importlib.import_module("timeline.migrations.0006_event_search")


def found(client, q, path=EVENTS) -> list[str]:
    response = client.get(path, {"q": q}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    return sorted(row["slug"] for row in response.json()["results"])


# --------------------------------------------------------------------------
# What matches
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("q", ["Kəlbəcər", "kelbecer", "KELBECER", "Kelbəcər"])
def test_a_title_matches_whatever_the_case_and_diacritics_of_either_side(client, q):
    factories.EventFactory(slug="shelling", title="Shelling near Kelbecer")
    factories.EventFactory(slug="other", title="Talks in Geneva")

    assert found(client, q) == ["shelling"]


@pytest.mark.django_db
def test_a_summary_with_diacritics_matches_a_plain_query(client):
    factories.EventFactory(slug="convoy", summary="Aid reaches Laçın after two days.")
    factories.EventFactory(slug="other", summary="Aid reaches Shusha.")

    assert found(client, "lacin") == ["convoy"]


@pytest.mark.django_db
def test_a_cyrillic_alias_finds_the_events_about_its_district_whose_text_never_names_it(client):
    district = factories.DistrictFactory(name="Kalbajar", slug="kalbajar")
    factories.DistrictAliasFactory(district=district, name="Кельбаджар", language="ru")
    factories.EventFactory(slug="about-it", title="Road reopens", summary="Traffic resumes.", districts=[district])
    factories.EventFactory(slug="elsewhere", title="Road reopens", summary="Traffic resumes.",
                           districts=[factories.DistrictFactory()])

    assert found(client, "кельбаджар") == ["about-it"]


@pytest.mark.django_db
def test_an_event_matching_both_by_text_and_by_district_is_listed_once(client):
    district = factories.DistrictFactory(name="Kalbajar", slug="kalbajar")
    factories.EventFactory(slug="both", title="Kalbajar handed over", districts=[district])

    assert found(client, "kalbajar") == ["both"]


@pytest.mark.django_db
def test_like_wildcards_in_the_query_match_only_themselves(client):
    factories.EventFactory(slug="percent", title="Turnout reached 150% of the plan")
    factories.EventFactory(slug="digits", title="Turnout reached 1500 voters")

    assert found(client, "150%") == ["percent"]


@pytest.mark.django_db
def test_drafts_found_by_the_search_stay_hidden_from_readers(client):
    factories.EventFactory(slug="draft", title="Kelbecer draft", publication_status="draft")

    assert found(client, "kelbecer") == []


# --------------------------------------------------------------------------
# Too short to search
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("q", ["ab", "Şu", "a b c", "%%%", "--"])
def test_an_event_search_without_three_letters_in_a_row_is_a_400_naming_q(client, q):
    response = client.get(EVENTS, {"q": q}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert "at least 3 letters or digits in a row" in response.json()["errors"]["q"][0]


@pytest.mark.django_db
def test_the_timeline_page_shows_the_short_search_error_beside_the_field(client):
    factories.EventFactory(title="Ab initio")

    response = client.get("/", {"q": "ab"})

    assert response.status_code == 400
    assert "at least 3 letters or digits in a row" in response.content.decode()


@pytest.mark.django_db
def test_a_district_search_takes_two_letters(client):
    factories.DistrictFactory(name="Şuşa", slug="shusha")

    assert found(client, "su", path="/api/v1/districts/") == ["shusha"]


# --------------------------------------------------------------------------
# search_text kept in step
# --------------------------------------------------------------------------


def test_search_text_for_folds_title_and_summary_into_one_text():
    assert Event.search_text_for("Kəlbəcər  RETURNED", "Laçın\ttoo.") == "kelbecer returned lacin too."


@pytest.mark.django_db
def test_saving_an_event_computes_its_search_text():
    event = factories.EventFactory(title="Ağdam", summary="Şuşa")

    event.refresh_from_db()
    assert event.search_text == "agdam susa"


@pytest.mark.django_db
def test_saving_only_the_title_updates_the_search_text_too():
    event = factories.EventFactory(title="Before", summary="Summary")
    event.title = "Kəlbəcər"

    event.save(update_fields=["title"])

    event.refresh_from_db()
    assert event.search_text == "kelbecer summary"


@pytest.mark.django_db
def test_saving_other_fields_only_does_not_write_the_search_text_column():
    event = factories.EventFactory(title="Kept", summary="Same")
    Event.objects.filter(pk=event.pk).update(search_text="stale on purpose")
    event.kind = Event.Kind.MILITARY

    event.save(update_fields=["kind"])

    assert Event.objects.get(pk=event.pk).search_text == "stale on purpose"


@pytest.mark.django_db
def test_synthetic_events_carry_the_search_text_save_would_give_them():
    synthetic.generate(events=20, seed=1)

    rows = Event.objects.filter(origin=Event.Origin.EDITORIAL).values_list("title", "summary", "search_text")
    assert len(rows) == 20
    assert all(text == Event.search_text_for(title, summary) for title, summary, text in rows)


# --------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("matches", [2, 12])
def test_an_event_search_adds_no_query_to_the_list_whatever_the_number_of_matches(
    client, django_assert_num_queries, matches
):
    district = factories.DistrictFactory(name="Kalbajar", slug="kalbajar")
    factories.DistrictAliasFactory(district=district, name="Քարվաճառ", language="hy")
    for n in range(matches):
        event = factories.EventFactory(title=f"Kalbajar report {n}" if n % 2 else "Road reopens",
                                       date=dt.date(2000, 1, 1) + dt.timedelta(days=n), districts=[district],
                                       parties=[factories.PartyFactory()])
        factories.CitationFactory(event=event)
    with CaptureQueriesContext(connection) as unfiltered:
        client.get(EVENTS, HTTP_ACCEPT="application/json")

    # The search is a subquery of the events query: the matching district ids are not fetched first.
    with django_assert_num_queries(len(unfiltered.captured_queries)):
        response = client.get(EVENTS, {"q": "Քարվաճառ"}, HTTP_ACCEPT="application/json")

    assert len(response.json()["results"]) == matches


# --------------------------------------------------------------------------
# The migration
# --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_search_text_of_existing_events_batch_by_batch(monkeypatch):
    monkeypatch.setattr(MIGRATION, "BATCH", 2)  # five events: three batches
    before, after = [("timeline", "0005_record_clock")], [("timeline", "0006_event_search")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        apps = executor.loader.project_state(before).apps
        OldEvent, Conflict = apps.get_model("timeline", "Event"), apps.get_model("timeline", "Conflict")
        conflict = Conflict.objects.create(name="C", slug="c", summary="")
        OldEvent.objects.bulk_create(
            OldEvent(conflict=conflict, slug=f"e{n}", title=f"Kəlbəcər {n}", summary="Laçın", kind="political",
                     date=dt.date(2020, 1, 1), span_end=dt.date(2020, 1, 1))
            for n in range(5)
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        apps = executor.loader.project_state(after).apps

        texts = apps.get_model("timeline", "Event").objects.order_by("slug").values_list("search_text", flat=True)
        assert list(texts) == [f"kelbecer {n} lacin" for n in range(5)]
    finally:
        call_command("migrate", verbosity=0)


# --------------------------------------------------------------------------
# The plan (PostgreSQL)
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes exist only on PostgreSQL")
def test_postgresql_finds_a_rare_word_of_an_event_search_through_the_trigram_index():
    district = factories.DistrictFactory(name="Kalbajar", slug="kalbajar")
    event = factories.EventFactory(title="Shelling near Kelbecer", districts=[district])
    with connection.cursor() as cursor:
        # Enough other events, analysed, that reading them all costs more than the index:
        # on a table of a few rows the planner rightly reads them all.
        cursor.execute(
            """INSERT INTO timeline_event (conflict_id, slug, title, summary, body, kind, origin, date,
                   date_precision, end_date_precision, span_end, search_text, publication_status, version,
                   created_at, updated_at)
               SELECT conflict_id, 'talks-' || n, 'Talks in Geneva', 'Delegations met.', '', kind, origin, date,
                   date_precision, '', span_end, 'talks in geneva delegations met.', publication_status, 1,
                   created_at, updated_at
               FROM timeline_event, generate_series(1, %s) AS n WHERE id = %s""",
            [OTHER_EVENTS_FOR_THE_PLANNER, event.pk],
        )
        cursor.execute("ANALYZE timeline_event")
        # Rows earlier tests inserted and rolled back stay in the index's pending list until a vacuum,
        # and the planner prices that list in: without this, the test passed or not by what ran before.
        cursor.execute("SELECT gin_clean_pending_list('event_search_text_trgm'::regclass)")
        sql, params = selectors.event_filter(selectors.event_list(), q="Kelbecer")[:51].query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Bitmap Index Scan on event_search_text_trgm" in plan, plan
