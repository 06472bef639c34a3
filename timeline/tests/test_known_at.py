"""The published record at a moment (``?known_at=``) and the X-Record-Time header."""

import datetime as dt
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from timeline import workflow
from timeline.tests import factories
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def reviewer(db):
    return user_in("Reviewers", "rita")


def moment() -> str:
    """Now, as a client pins it; the next change happens strictly later."""
    now = timezone.now()
    time.sleep(0.002)
    return now.isoformat().replace("+00:00", "Z")


def test_an_event_corrected_since_shows_its_old_text(api, reviewer):
    district = factories.DistrictFactory(slug="hillside", name="Hillside")
    event = factories.EventFactory(slug="road", title="Wrong town", districts=[district])
    before = moment()
    workflow.correct(record=event, user=reviewer, fields={"title": "Right town"}, note="Misnamed.")
    old = api.get("/api/v1/events/road/", {"known_at": before}).json()
    assert (old["title"], [d["slug"] for d in old["districts"]]) == ("Wrong town", ["hillside"])
    assert api.get("/api/v1/events/road/").json()["title"] == "Right town"
    listed = api.get("/api/v1/events/", {"known_at": before}).json()["results"]
    assert [e["title"] for e in listed] == ["Wrong town"]


def test_an_event_withdrawn_since_is_present_and_one_published_later_is_absent(api, reviewer):
    withdrawn = factories.EventFactory(slug="forged", title="Forged", date=dt.date(2020, 11, 1))
    before = moment()
    workflow.withdraw(record=withdrawn, user=reviewer, note="Forged document.")
    factories.EventFactory(slug="later", title="Later", date=dt.date(2020, 11, 2))
    then = [e["slug"] for e in api.get("/api/v1/events/", {"known_at": before}).json()["results"]]
    now = [e["slug"] for e in api.get("/api/v1/events/").json()["results"]]
    assert then == ["forged"]
    assert now == ["later"]
    assert api.get("/api/v1/events/later/", {"known_at": before}).status_code == 404


def test_the_districts_of_an_event_are_those_it_had_at_that_moment(api):
    first = factories.DistrictFactory(slug="first", name="First")
    second = factories.DistrictFactory(slug="second", name="Second")
    event = factories.EventFactory(slug="moving", districts=[first])
    before = moment()
    event.districts.set([second])
    event.save()  # the m2m history is taken with the next historical row
    assert [d["slug"] for d in api.get("/api/v1/events/moving/", {"known_at": before}).json()["districts"]] == ["first"]
    assert [d["slug"] for d in api.get("/api/v1/events/moving/").json()["districts"]] == ["second"]


def test_every_answer_carries_the_record_time_it_reflects(api):
    factories.EventFactory(slug="one")
    pinned = "2020-11-26T12:00:00.000000Z"
    live = api.get("/api/v1/events/")
    stamp = dt.datetime.fromisoformat(live["X-Record-Time"].replace("Z", "+00:00"))
    assert abs((timezone.now() - stamp).total_seconds()) < 60
    assert api.get("/api/v1/events/", {"known_at": "2020-11-26T12:00:00Z"})["X-Record-Time"] == pinned
    assert "X-Record-Time" in api.get("/api/v1/districts/?as_of=nonsense")  # errors too
    assert api.get("/api/v1/provisions/").has_header("X-Record-Time")


@pytest.mark.parametrize("value", ["yesterday", "2020-11-26", "2020-11-26T12:00:00", "2999-01-01T00:00:00Z"])
def test_a_bad_known_at_is_a_400_naming_it(api, value):
    response = api.get("/api/v1/events/", {"known_at": value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["known_at"]


def test_known_at_on_a_resource_without_it_is_a_400_saying_so(api):
    response = api.get("/api/v1/districts/", {"known_at": "2020-11-26T12:00:00Z"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"known_at": [
        "The published record at a past moment is available for events only (see the API documentation)."
    ]}


def test_known_at_with_a_filter_it_does_not_take_is_a_400_naming_the_filter(api):
    response = api.get("/api/v1/events/", {"known_at": "2020-11-26T12:00:00Z", "q": "road"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"q": ["q cannot be combined with known_at."]}


def test_known_at_runs_a_constant_number_of_queries(api, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def world(n):
        district = factories.DistrictFactory()
        party = factories.PartyFactory()
        for _ in range(n):
            event = factories.EventFactory(districts=[district], parties=[party], claimed_by=party)
            factories.CitationFactory(event=event)

    world(2)
    at = moment()
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/events/", {"known_at": at})
    world(20)
    at = moment()
    with django_assert_num_queries(len(few.captured_queries)):
        assert api.get("/api/v1/events/", {"known_at": at}).json()["count"] == 22
