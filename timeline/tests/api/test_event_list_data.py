"""The events list is built from light rows (``api.event_list_data``) rather than through
``EventSerializer``; it must say exactly what the serializer says, key for key."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from timeline import selectors
from timeline.api import serializers as api
from timeline.api.renderers import FastJSONRenderer
from timeline.models import Event, PublicationStatus
from timeline.tests import factories

pytestmark = pytest.mark.django_db

DRAFT = PublicationStatus.DRAFT


@pytest.fixture
def mixed(world):
    """Published events linked to what an anonymous reader may and may not see."""
    conflict = world.conflict
    hidden_party = factories.PartyFactory(name="Hidden party", publication_status=DRAFT)
    hidden_district = factories.DistrictFactory(conflict=conflict, name="Hidden district", publication_status=DRAFT)
    hidden_source = factories.SourceFactory(title="Hidden source", publication_status=DRAFT)
    hidden_agreement = factories.AgreementFactory(conflict=conflict, publication_status=DRAFT)
    claim = factories.EventFactory(
        conflict=conflict, title="A claim\u2028with a line separator </script>", summary="Kəlbəcər, Кельбаджар",
        claimed_by=world.baku, districts=[world.kalbajar, hidden_district, world.agdam],
        parties=[hidden_party, world.yerevan, world.baku], date=dt.date(1993, 4, 1), date_precision="month",
    )
    factories.CitationFactory(event=claim, source=hidden_source, order=0)
    factories.CitationFactory(event=claim, order=2, locator="p. 2")
    factories.CitationFactory(event=claim, order=1, locator="p. 1", source__url="https://example.org/a")
    factories.EventFactory(conflict=conflict, title="Hidden claimant", claimed_by=hidden_party,
                           agreement=hidden_agreement, date=dt.date(1992, 1, 1), date_precision="year",
                           end_date=dt.date(1994, 1, 1), end_date_precision="year")
    handover = factories.HandoverFactory(deadline__agreement=world.agreement, deadline__district=hidden_district)
    factories.EventFactory(conflict=conflict, title="Handover of a hidden district", handover=handover,
                           agreement=world.agreement, date=dt.date(2020, 11, 20))
    draft_handover = factories.HandoverFactory(deadline__agreement=world.agreement, publication_status=DRAFT)
    factories.EventFactory(conflict=conflict, title="Draft handover", handover=draft_handover,
                           date=dt.date(2020, 11, 21), end_date=dt.date(2020, 11, 30), end_date_precision="day")
    return world


def api_events(include_unpublished: bool):
    """The events as the API's serializer gets them (its selector prefetches related drafts for staff)."""
    from timeline.api.views import EventViewSet

    return EventViewSet().selector(include_unpublished=include_unpublished)


def both_ways(include_unpublished: bool):
    """(what the serializer says, what event_list_data says) about every event the reader may list."""
    request = Request(APIRequestFactory().get("/api/v1/events/"))
    events = api_events(include_unpublished)
    context = {"request": request, "include_unpublished": include_unpublished}
    expected = api.EventSerializer(list(events), many=True, context=context).data
    rows = list(selectors.event_rows(events))
    related = selectors.event_related_rows(rows, include_unpublished=include_unpublished)
    return expected, api.event_list_data(rows, related, request=request, include_unpublished=include_unpublished)


def as_text(data) -> str:
    return json.dumps(data, ensure_ascii=False)  # keeps the order of keys, unlike ==


def test_anonymous_readers_get_what_the_serializer_gives(mixed):
    expected, built = both_ways(include_unpublished=False)
    assert len(built) == Event.objects.published().count()
    assert as_text(built) == as_text(expected)


def test_staff_get_what_the_serializer_gives_drafts_included(mixed):
    expected, built = both_ways(include_unpublished=True)
    assert len(built) == Event.objects.count()
    assert as_text(built) == as_text(expected)


def test_times_are_given_in_the_current_zone_as_the_serializer_does(mixed):
    with timezone.override("Asia/Baku"):
        expected, built = both_ways(include_unpublished=False)
    assert built[0]["updated_at"].endswith("+04:00")
    assert as_text(built) == as_text(expected)


def test_the_list_hides_what_anonymous_readers_may_not_see(anon, mixed):
    rows = {row["title"]: row for row in anon.get("/api/v1/events/?page_size=500").json()["results"]}
    claim = rows["A claim\u2028with a line separator </script>"]
    assert [d["name"] for d in claim["districts"]] == ["Agdam", "Kalbajar"]
    assert [p["name"] for p in claim["parties"]] == ["Armenia", "Azerbaijan"]
    assert [s["locator"] for s in claim["sources"]] == ["p. 1", "p. 2"]
    hidden = rows["Hidden claimant"]
    assert (hidden["is_claim"], hidden["claimed_by"], hidden["agreement"]) == (True, None, None)
    assert rows["Handover of a hidden district"]["handover"]["district"] is None
    assert rows["Draft handover"]["handover"] is None


def test_the_fast_renderer_writes_the_bytes_drf_writes(anon, mixed):
    response = anon.get("/api/v1/events/?page_size=500")
    assert b"\\u2028" in response.content
    assert response.content == JSONRenderer().render(response.json())
    assert FastJSONRenderer().render({"when": dt.date(2020, 11, 25)}) == b'{"when":"2020-11-25"}'


def test_the_fast_renderer_leaves_an_indent_to_drf(anon, world):
    response = anon.get("/api/v1/events/", HTTP_ACCEPT="application/json; indent=2")
    assert response.content.startswith(b'{\n  "next"')


@pytest.mark.parametrize("staff", [False, True])
def test_an_event_s_page_says_what_the_serializer_says_with_its_etag(anon, editor, mixed, staff):
    from timeline.api.views import record_etag

    client = editor if staff else anon
    for event in api_events(staff):
        response = client.get(f"/api/v1/events/{event.slug}/")
        assert response.status_code == 200
        request = Request(APIRequestFactory().get(f"/api/v1/events/{event.slug}/"))
        expected = api.EventSerializer(event, context={"request": request, "include_unpublished": staff}).data
        assert as_text(response.json()) == as_text(expected)
        assert response["ETag"] == record_etag(event, expected, "json")
        assert response["Last-Modified"]


def test_an_event_the_reader_may_not_see_is_a_404(anon, mixed):
    draft = factories.EventFactory(conflict=mixed.conflict, publication_status=DRAFT)
    response = anon.get(f"/api/v1/events/{draft.slug}/")
    assert response.status_code == 404
    assert response.json()["detail"] == "No Event matches the given query."
    assert anon.get("/api/v1/events/no-such-event/").status_code == 404


def test_an_event_s_page_in_another_format_still_comes_from_the_serializer(anon, mixed):
    event = Event.objects.published().first()
    response = anon.get(f"/api/v1/events/{event.slug}/?format=csv")
    assert response.status_code == 200
    assert event.title.split("\u2028")[0] in response.content.decode()
