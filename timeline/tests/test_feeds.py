import datetime as dt

import feedparser
import icalendar
import pytest
from django.utils import timezone

from timeline import services
from timeline.models import Event, PublicationStatus
from timeline.tests import factories
from timeline.tests.pages import queries_for

pytestmark = pytest.mark.django_db


def test_the_atom_feed_lists_published_entries_newest_published_first(client):
    now = timezone.now()
    factories.EventFactory(title="Older news", published_at=now - dt.timedelta(days=2), summary="First.")
    factories.EventFactory(title="Newer news", published_at=now - dt.timedelta(days=1), date=dt.date(1990, 1, 1))
    factories.EventFactory(title="Draft news", publication_status=PublicationStatus.DRAFT)
    response = client.get("/feeds/events.atom")
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.version == "atom10"
    assert [e.title for e in feed.entries] == ["1 January 1990: Newer news", "25 November 2020: Older news"]
    assert feed.entries[1].summary == "First."
    assert feed.entries[1].link.endswith(Event.objects.get(title="Older news").get_absolute_url())


def test_the_atom_feed_says_when_an_entry_is_a_claim(client):
    party = factories.PartyFactory(name="Side A")
    factories.EventFactory(title="Reported", summary="Shelling reported.", claimed_by=party)
    entry = feedparser.parse(client.get("/feeds/events.atom").content).entries[0]
    assert entry.summary == "Claim by Side A: Shelling reported."


def _postponed_deadline():
    agreement = factories.AgreementFactory(title="Statement", slug="statement")
    requester, agreer = factories.PartyFactory(name="Requester"), factories.PartyFactory(name="Agreer")
    handover = factories.HandoverFactory(
        deadline__agreement=agreement, deadline__obligation="Return of the district",
        deadline__original_due_on=dt.date(2020, 11, 15),
    )
    services.deadline_postpone(
        deadline=handover.deadline, to_date=dt.date(2020, 11, 25), decided_on=dt.date(2020, 11, 15),
        requested_by=requester, agreed_by=[agreer], reason="Weather.",
    )
    return handover


def _calendar(client):
    response = client.get("/feeds/deadlines.ics")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(response.content)


def test_the_calendar_has_one_event_per_deadline_on_its_current_date(client):
    handover = _postponed_deadline()
    events = _calendar(client).walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert str(event["UID"]) == f"deadline-{handover.deadline.pk}@testserver"
    assert event.decoded("DTSTART") == dt.date(2020, 11, 25)
    assert event.decoded("DTEND") == dt.date(2020, 11, 26)
    assert str(event["SUMMARY"]) == "Deadline: Return of the district"
    assert event["SEQUENCE"] == 1
    description = str(event["DESCRIPTION"])
    assert "Original date: 15 November 2020" in description
    assert "Postponement 1: 15 November 2020 to 25 November 2020, requested by Requester, agreed by Agreer. Reason: Weather." in description
    assert str(event["URL"]) == "http://testserver/agreements/statement/"


def test_a_second_postponement_updates_the_same_calendar_event(client):
    handover = _postponed_deadline()
    uid_before = str(_calendar(client).walk("VEVENT")[0]["UID"])
    services.deadline_postpone(deadline=handover.deadline, to_date=dt.date(2020, 11, 28), decided_on=dt.date(2020, 11, 24))
    event = _calendar(client).walk("VEVENT")[0]
    assert str(event["UID"]) == uid_before
    assert event["SEQUENCE"] == 2
    assert event.decoded("DTSTART") == dt.date(2020, 11, 28)


def test_the_calendar_says_when_an_obligation_was_completed(client):
    handover = _postponed_deadline()
    services.handover_complete(handover=handover, completed_on=dt.date(2020, 11, 25))
    assert "Completed on 25 November 2020." in str(_calendar(client).walk("VEVENT")[0]["DESCRIPTION"])


def test_the_calendar_leaves_out_deadlines_of_unpublished_agreements(client):
    factories.DeadlineFactory(agreement__publication_status=PublicationStatus.DRAFT, obligation="Secret")
    factories.DeadlineFactory(obligation="Public", original_due_on=dt.date(2021, 1, 1))
    events = _calendar(client).walk("VEVENT")
    assert [str(e["SUMMARY"]) for e in events] == ["Deadline: Public"]
    assert events[0]["SEQUENCE"] == 0
    assert "Not postponed." in str(events[0]["DESCRIPTION"])


@pytest.mark.parametrize("url", ["/feeds/events.atom", "/feeds/deadlines.ics", "/sitemap.xml"])
def test_feeds_run_the_same_number_of_queries_for_3_or_30_records(client, django_assert_num_queries, url):
    def records(n):
        for _ in range(n):
            handover = _postponed_deadline_for_count()
            factories.EventFactory(districts=[handover.district])

    records(3)
    expected = queries_for(client, url)
    records(27)
    with django_assert_num_queries(expected):
        client.get(url)


def _postponed_deadline_for_count():
    handover = factories.HandoverFactory()
    services.deadline_postpone(
        deadline=handover.deadline, to_date=dt.date(2020, 11, 25), decided_on=dt.date(2020, 11, 15),
        requested_by=handover.from_party, agreed_by=[handover.to_party],
    )
    return handover
