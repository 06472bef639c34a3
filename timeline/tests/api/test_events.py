"""Event filters, ordering and keyset pagination."""

import datetime as dt

import pytest
from django.utils import timezone

from timeline.models import Event
from timeline.tests import factories

pytestmark = pytest.mark.django_db


def slugs(response):
    assert response.status_code == 200, response.content
    return [row["slug"] for row in response.json()["results"]]


def editorial(anon, query):
    return slugs(anon.get(f"/api/v1/events/?origin=editorial&{query}"))


def test_district_filter_keeps_events_about_that_district(anon, world):
    factories.EventFactory(conflict=world.conflict, slug="about-agdam", districts=[world.agdam])
    assert editorial(anon, "district=agdam") == ["about-agdam"]


def test_repeated_district_filter_keeps_events_about_any_of_them(anon, world):
    factories.EventFactory(conflict=world.conflict, slug="about-agdam", districts=[world.agdam])
    factories.EventFactory(conflict=world.conflict, slug="about-lachin", districts=[world.lachin])
    assert editorial(anon, "district=agdam&district=kalbajar") == ["war-begins", "about-agdam"]


def test_party_filter_keeps_events_involving_or_claimed_by_the_party(anon, world):
    factories.EventFactory(conflict=world.conflict, slug="baku-claims", claimed_by=world.baku)
    assert editorial(anon, "party=azerbaijan") == ["baku-claims"]
    assert editorial(anon, "party=armenia") == ["war-begins"]


def test_kind_filter(anon, world):
    assert slugs(anon.get("/api/v1/events/?kind=military")) == ["war-begins"]
    assert len(slugs(anon.get("/api/v1/events/?kind=deadline"))) == 2


def test_agreement_filter(anon, world):
    found = slugs(anon.get("/api/v1/events/?agreement=trilateral-statement"))
    assert "war-begins" not in found
    assert len(found) == 4
    assert set(Event.objects.filter(slug__in=found).values_list("agreement__slug", flat=True)) == {
        "trilateral-statement"}


def test_date_range_matches_a_month_precision_event_inside_its_month(anon, world):
    assert editorial(anon, "date_from=1988-02-15&date_to=1988-02-20") == ["war-begins"]
    assert editorial(anon, "date_from=1988-03-01") == []
    assert editorial(anon, "date_to=1988-01-31") == []


def test_search_matches_titles_and_district_aliases_in_any_script(anon, world):
    assert editorial(anon, "q=fighting") == ["war-begins"]
    assert editorial(anon, "q=Кельбаджар") == ["war-begins"]
    assert editorial(anon, "q=kelbecer") == ["war-begins"]
    assert editorial(anon, "q=nothing-like-this") == []


def test_updated_since_keeps_recently_changed_events(anon, world):
    later = timezone.now() + dt.timedelta(seconds=1)
    Event.objects.filter(slug="war-begins").update(updated_at=later + dt.timedelta(seconds=5))
    stamp = later.isoformat().replace("+00:00", "Z")
    assert slugs(anon.get("/api/v1/events/", {"updated_since": stamp})) == ["war-begins"]


@pytest.mark.parametrize(("query", "parameter", "needle"), [
    ("district=atlantis", "district", "atlantis"),
    ("district=kalbajar&district=atlantis", "district", "atlantis"),
    ("party=nobody", "party", "nobody"),
    ("agreement=no-such-treaty", "agreement", "no-such-treaty"),
])
def test_an_unknown_slug_is_a_400_naming_it(anon, world, query, parameter, needle):
    response = anon.get(f"/api/v1/events/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert list(body["errors"]) == [parameter]
    assert needle in body["errors"][parameter][0]
    assert needle in body["detail"]


def test_a_draft_district_is_an_unknown_slug_for_anonymous_clients(anon, world):
    factories.DistrictFactory(conflict=world.conflict, slug="hidden", publication_status="draft")
    assert anon.get("/api/v1/events/?district=hidden").status_code == 400


def test_date_to_before_date_from_is_a_400(anon, world):
    response = anon.get("/api/v1/events/?date_from=2020-01-02&date_to=2020-01-01")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["date_to"]


def test_ordering_by_date_descending_breaks_ties_by_id(anon, world):
    same_day = [factories.EventFactory(conflict=world.conflict, date=dt.date(2021, 1, 1)) for _ in range(3)]
    found = slugs(anon.get("/api/v1/events/?ordering=-date&page_size=3"))
    assert found == [e.slug for e in sorted(same_day, key=lambda e: -e.pk)]


def test_ordering_by_updated_at(anon, world):
    Event.objects.filter(slug="war-begins").update(updated_at=timezone.now() + dt.timedelta(days=1))
    assert slugs(anon.get("/api/v1/events/?ordering=-updated_at&page_size=1")) == ["war-begins"]
    assert slugs(anon.get("/api/v1/events/?ordering=updated_at"))[-1] == "war-begins"


def test_cursor_pages_walk_every_event_once_forwards_and_back(anon, world):
    created = []
    for n in range(7):
        created.append(factories.EventFactory(conflict=world.conflict, date=dt.date(2001, 1, 1 + n % 2)))
    expected = list(Event.objects.published().order_by("date", "id").values_list("slug", flat=True))
    seen, pages, url = [], [], "/api/v1/events/?page_size=3"
    while url:
        body = anon.get(url).json()
        pages.append(body)
        seen.extend(row["slug"] for row in body["results"])
        url = body["next"]
    assert seen == expected
    assert pages[0]["previous"] is None
    back = anon.get(pages[-1]["previous"]).json()
    assert [row["slug"] for row in back["results"]] == [row["slug"] for row in pages[-2]["results"]]
    assert back["next"] is not None


def test_cursor_pagination_descending_reaches_the_oldest_event_last(anon, world):
    seen, url = [], "/api/v1/events/?ordering=-date&page_size=2"
    while url:
        body = anon.get(url).json()
        seen.extend(row["slug"] for row in body["results"])
        url = body["next"]
    assert seen[-1] == "war-begins"
    assert len(seen) == len(set(seen)) == Event.objects.published().count()


def test_a_cursor_made_for_another_ordering_is_a_400(anon, world):
    next_link = anon.get("/api/v1/events/?page_size=1").json()["next"]
    cursor = next_link.split("cursor=")[1].split("&")[0]
    response = anon.get(f"/api/v1/events/?page_size=1&ordering=-date&cursor={cursor}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["cursor"]


def test_page_size_500_is_allowed(anon, world):
    assert anon.get("/api/v1/events/?page_size=500").status_code == 200
