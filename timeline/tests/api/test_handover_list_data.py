"""The handover list is built by ``api.handover_list_data`` rather than through ``HandoverSerializer``;
it must say exactly what the serializer says, key for key, for every reader and day."""

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from timeline import asof, selectors, services
from timeline.api import serializers as api
from timeline.models import Handover, PublicationStatus
from timeline.tests import factories

pytestmark = pytest.mark.django_db

DRAFT = PublicationStatus.DRAFT
NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


@pytest.fixture
def mixed(world):
    """Handovers naming records an anonymous reader may and may not see, with postponements and sources."""
    conflict = world.conflict
    hidden_party = factories.PartyFactory(name="Hidden party", publication_status=DRAFT)
    hidden_district = factories.DistrictFactory(conflict=conflict, name="Hidden district", publication_status=DRAFT)
    hidden_agreement = factories.AgreementFactory(conflict=conflict, publication_status=DRAFT)
    hidden_source = factories.SourceFactory(title="Hidden source", publication_status=DRAFT)
    handover = factories.HandoverFactory(
        deadline__agreement=hidden_agreement, deadline__district=hidden_district, from_party=hidden_party,
        to_party=world.baku, deadline__original_due_on=NOV(15), deadline__due_on=NOV(15), summary="Kəlbəcər </b>",
    )
    first = services.deadline_postpone(deadline=handover.deadline, to_date=NOV(25), decided_on=NOV(14),
                                       requested_by=hidden_party, agreed_by=[world.baku, hidden_party],
                                       reason="Asked for ten more days.")
    services.deadline_postpone(deadline=handover.deadline, to_date=NOV(28), decided_on=NOV(24),
                               requested_by=world.yerevan)
    factories.CitationFactory(event=None, postponement=first, source=hidden_source)
    factories.CitationFactory(event=None, postponement=first, locator="para 2")
    factories.CitationFactory(event=None, handover=handover, source=hidden_source)
    factories.CitationFactory(event=None, handover=handover, locator="p. 1", source__url="https://example.org/h")
    factories.HandoverFactory(deadline=None, agreement=None, district=world.lachin, from_party=world.yerevan,
                              to_party=world.baku, completed_on=NOV(30))
    factories.HandoverFactory(deadline__agreement=world.agreement, publication_status=DRAFT)
    services.handover_refresh(handover=Handover.objects.get(pk=handover.pk))
    return world


def both_ways(include_unpublished: bool, day=None):
    """(what the serializer says, what handover_list_data says) about every handover the reader may list."""
    request = Request(APIRequestFactory().get("/api/v1/handovers/"))
    handovers = list(asof.handovers(selectors.handover_list(include_unpublished=include_unpublished), day))
    context = {"request": request, "include_unpublished": include_unpublished, "as_of": day}
    expected = api.HandoverSerializer(handovers, many=True, context=context).data
    built = api.handover_list_data(handovers, request=request, include_unpublished=include_unpublished, day=day)
    return expected, built


def as_text(data) -> str:
    return json.dumps(data, ensure_ascii=False)  # keeps the order of keys, unlike ==


@pytest.mark.parametrize("staff", [False, True])
@pytest.mark.parametrize("day", [None, NOV(14), NOV(20), NOV(26), NOV(30)])
def test_the_list_says_what_the_serializer_says(mixed, staff, day):
    expected, built = both_ways(staff, day)
    assert len(built) == len(expected) >= 3
    assert as_text(built) == as_text(expected)


def test_times_are_given_in_the_current_zone_as_the_serializer_does(mixed):
    with timezone.override("Asia/Baku"):
        expected, built = both_ways(False)
    assert built[0]["updated_at"].endswith("+04:00")
    assert as_text(built) == as_text(expected)


def test_the_list_hides_what_anonymous_readers_may_not_see(anon, mixed):
    rows = anon.get("/api/v1/handovers/?page_size=100").json()["results"]
    postponed = next(row for row in rows if row["summary"] == "Kəlbəcər </b>")
    assert (postponed["district"], postponed["from_party"], postponed["agreement"]) == (None, None, None)
    assert postponed["to_party"] == {"slug": mixed.baku.slug, "name": "Azerbaijan"}
    assert [s["locator"] for s in postponed["sources"]] == ["p. 1"]
    first, second = postponed["postponements"]
    assert first["requested_by"] is None and [p["name"] for p in first["agreed_by"]] == ["Azerbaijan"]
    assert [s["locator"] for s in first["sources"]] == ["para 2"]
    assert second["requested_by"]["name"] == "Armenia"
    assert postponed["status"] == "postponed" and postponed["due_on"] == "2020-11-28"
    assert len(rows) == Handover.objects.published().count()


def test_as_of_a_day_the_list_gives_the_handover_as_it_stood(anon, mixed):
    rows = anon.get("/api/v1/handovers/?as_of=2020-11-20&page_size=100").json()["results"]
    postponed = next(row for row in rows if row["summary"] == "Kəlbəcər </b>")
    assert [p["sequence"] for p in postponed["postponements"]] == [1]
    assert (postponed["status"], postponed["due_on"]) == ("postponed", "2020-11-25")
