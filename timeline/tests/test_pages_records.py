import datetime as dt
import json
import re

import pytest

from timeline import asof, implementation, selectors, services
from timeline.models import Discrepancy, Event, Handover, PublicationStatus
from timeline.tests import factories
from timeline.tests.pages import inline_script_code, main_text, queries_for, text_of
from timeline.tests.site_demo import build_demo, load_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    build_demo()


# --------------------------------------------------------------------------
# Event pages
# --------------------------------------------------------------------------


def test_an_event_page_shows_the_whole_entry_with_sources_and_passages(client):
    district = factories.DistrictFactory(name="Hillside", slug="hillside")
    source = factories.SourceFactory(title="Wire report", publisher="Example Wire", url="https://example.org/r")
    event = factories.EventFactory(
        slug="hillside-event", title="Road reopens", summary="The road reopens.", body="Long text here.",
        date=dt.date(2020, 11, 1), date_precision="month", districts=[district],
    )
    factories.CitationFactory(event=event, source=source, passage="The road reopened on Sunday.", locator="paragraph 4")
    Discrepancy.objects.create(event=event, aspect="the day it reopened", description="One says Sunday, one Monday.")
    response = client.get("/events/hillside-event/")
    text = main_text(response)
    assert response.status_code == 200
    assert "Road reopens" in text and "The road reopens." in text and "Long text here." in text
    assert '<time datetime="2020-11">November 2020</time>' in response.content.decode()
    assert "(known to the month)" in text
    assert "Wire report, Example Wire, 25 November 2020 · paragraph 4 The road reopened on Sunday." in text
    assert "Sources differ on the day it reopened. One says Sunday, one Monday." in text
    assert '<a href="/districts/hillside/">Hillside</a>' in response.content.decode()
    assert f"Last updated {event.updated_at:%-d %B %Y}" in text


def test_an_event_page_links_its_agreement_and_handover(client, demo):
    event = Event.objects.get(origin=Event.Origin.HANDOVER_COMPLETED, handover__district__slug="kalbajar")
    html = client.get(event.get_absolute_url()).content.decode()
    assert '<a href="/agreements/trilateral-statement-2020/">Trilateral statement of 9 November 2020</a>' in html
    assert '<a href="/handovers/?district=kalbajar#handover-kalbajar">Kalbajar: Armenia → Azerbaijan</a> (completed)' in html


def test_a_claim_page_names_the_party_that_makes_it(client, demo):
    text = main_text(client.get("/events/2020-11-20-shelling-claim/"))
    assert "Claim by Azerbaijan" in text
    assert "This entry records what Azerbaijan stated. It is not established by the sources as fact." in text


def test_an_event_page_has_json_ld_that_cannot_break_out_of_its_script(client):
    factories.EventFactory(slug="tricky", title="</script><script>alert(1)</script>", summary="A & B")
    html = client.get("/events/tricky/").content.decode()
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    data = json.loads(match.group(1))
    assert data["@type"] == "Event"
    assert data["name"] == "</script><script>alert(1)</script>"
    assert data["description"] == "A & B"
    assert data["startDate"] == "2020-11-25"
    assert data["url"] == "http://testserver/events/tricky/"
    assert "<script>alert(1)" not in html


def test_an_event_page_has_no_inline_script_code(client, demo):
    assert inline_script_code(client.get("/events/1993-04-kalbajar-taken/")) == []


def test_a_withdrawn_event_says_it_was_withdrawn(client):
    factories.EventFactory(slug="gone", title="Corrected entry", publication_status=PublicationStatus.WITHDRAWN)
    response = client.get("/events/gone/")
    assert response.status_code == 410
    assert "This entry was withdrawn" in main_text(response)
    assert "“Corrected entry” (25 November 2020)" in main_text(response)


@pytest.mark.parametrize("status", [PublicationStatus.DRAFT, PublicationStatus.IN_REVIEW])
def test_an_unpublished_event_is_not_found(client, status):
    factories.EventFactory(slug="secret", title="Secret entry", publication_status=status)
    response = client.get("/events/secret/")
    assert response.status_code == 404
    assert "Secret entry" not in response.content.decode()
    assert "Page not found" in main_text(response)


def test_an_unknown_event_gets_the_sites_404_page(client):
    response = client.get("/events/no-such-entry/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Page not found</h1>" in html
    assert '<a class="skip-link" href="#main">' in html


def test_an_event_page_runs_the_same_number_of_queries_with_more_sources_and_districts(client, django_assert_num_queries):
    event = factories.EventFactory(slug="busy")
    event.districts.set([factories.DistrictFactory() for _ in range(2)])
    factories.CitationFactory.create_batch(2, event=event)
    Discrepancy.objects.create(event=event, aspect="x", description="y").sources.add(factories.SourceFactory())
    expected = queries_for(client, "/events/busy/")
    event.districts.add(*[factories.DistrictFactory() for _ in range(20)])
    factories.CitationFactory.create_batch(20, event=event)
    for _ in range(5):
        Discrepancy.objects.create(event=event, aspect="x", description="y").sources.add(factories.SourceFactory())
    with django_assert_num_queries(expected):
        client.get("/events/busy/")


# --------------------------------------------------------------------------
# Districts
# --------------------------------------------------------------------------


def test_the_district_list_draws_a_map_with_labelled_linked_points_and_a_legend(client, demo):
    html = client.get("/districts/").content.decode()
    svg = html[html.index('<svg class="map__svg"') : html.index("</svg>")]
    for slug, name in [("kalbajar", "Kalbajar"), ("aghdam", "Aghdam"), ("lachin", "Lachin")]:
        assert f'<a class="map__point" href="/districts/{slug}/">' in svg
        assert f">{name}</text>" in svg
    assert svg.count('class="marker marker--completed"') == 3
    assert "Handed over" in main_text(client.get("/districts/"))


def test_the_map_projects_north_up_and_west_left(client):
    conflict = factories.ConflictFactory()
    factories.DistrictFactory(conflict=conflict, name="North-west", latitude=41, longitude=45)
    factories.DistrictFactory(conflict=conflict, name="South-east", latitude=39, longitude=47)
    html = client.get("/districts/").content.decode()
    points = {
        name: (float(x), float(y))
        for x, y, name in re.findall(r'<circle class="marker marker--none" cx="([\d.]+)" cy="([\d.]+)" r="7"/>\s*<text[^>]*>([^<]+)</text>', html)
    }
    assert points["North-west"][0] < points["South-east"][0]
    assert points["North-west"][1] < points["South-east"][1]


def test_a_district_with_a_boundary_is_drawn_as_a_shape(client):
    factories.DistrictFactory(
        name="Shaped", latitude=40.5, longitude=46.5,
        boundary={"type": "Polygon", "coordinates": [[[46, 40], [47, 40], [47, 41], [46, 41], [46, 40]]]},
    )
    html = client.get("/districts/").content.decode()
    assert re.search(r'<path class="map__shape map__shape--none" d="M[\d., L]+ Z"><title>Shaped</title></path>', html)


def test_the_district_list_shows_aliases_in_their_language(client, demo):
    html = client.get("/districts/").content.decode()
    assert '<span lang="ru">Кельбаджар</span>' in html
    assert '<span lang="hy-Latn">Karvachar</span>' in html


def test_a_district_page_shows_names_control_history_handovers_and_events(client, demo):
    response = client.get("/districts/kalbajar/")
    html, text = response.content.decode(), main_text(response)
    assert '<span lang="az" class="names__name">Kəlbəcər</span>' in html
    assert "Armenia 3 April 1993 25 November 2020 an entry of the timeline" in text
    assert "Azerbaijan 25 November 2020 still held a handover" in text
    assert ">Armenia, 3 April 1993</text>" in html and ">Azerbaijan, 25 November 2020</text>" in html
    assert "15 November 2020 → 25 November 2020, requested by Armenia" in text
    assert "Kalbajar taken" in text
    assert "Aghdam handed over" not in text


def test_an_unpublished_district_is_not_found(client):
    factories.DistrictFactory(slug="hidden", publication_status=PublicationStatus.DRAFT)
    assert client.get("/districts/hidden/").status_code == 404


def _districts_with_handovers(count):
    agreement = factories.AgreementFactory()
    party_a, party_b = factories.PartyFactory(), factories.PartyFactory()
    for _ in range(count):
        district = factories.DistrictFactory(conflict=agreement.conflict)
        factories.DistrictAliasFactory(district=district)
        handover = factories.HandoverFactory(
            deadline__agreement=agreement, deadline__district=district, from_party=party_a, to_party=party_b
        )
        services.deadline_postpone(deadline=handover.deadline, to_date=dt.date(2020, 11, 30), decided_on=dt.date(2020, 11, 14), requested_by=party_a, agreed_by=[party_b])
        services.handover_complete(handover=handover, completed_on=dt.date(2020, 11, 29))
    return agreement


def test_the_district_list_runs_the_same_number_of_queries_for_3_or_30_districts(client, django_assert_num_queries):
    _districts_with_handovers(3)
    expected = queries_for(client, "/districts/")
    _districts_with_handovers(27)
    with django_assert_num_queries(expected):
        client.get("/districts/")


def test_a_district_page_runs_the_same_number_of_queries_for_3_or_30_events(client, django_assert_num_queries):
    district = factories.DistrictFactory(slug="busy")
    party = factories.PartyFactory()
    for _ in range(3):
        factories.ControlChangeFactory(event=factories.EventFactory(districts=[district], parties=[party]), district=district)
    expected = queries_for(client, "/districts/busy/")
    for _ in range(27):
        factories.ControlChangeFactory(event=factories.EventFactory(districts=[district], parties=[party]), district=district)
    with django_assert_num_queries(expected):
        client.get("/districts/busy/")


# --------------------------------------------------------------------------
# Agreements
# --------------------------------------------------------------------------


def test_an_agreement_page_shows_signing_and_the_moment_it_took_effect_in_its_zone(client, demo):
    text = main_text(client.get("/agreements/trilateral-statement-2020/"))
    assert "Signed 9 November 2020 in Moscow · In effect from 00:00 Moscow time (Europe/Moscow), 10 November 2020" in text


def test_an_agreement_page_lists_signatories_discrepancies_and_numbered_provisions(client, demo):
    response = client.get("/agreements/trilateral-statement-2020/")
    html, text = response.content.decode(), main_text(response)
    assert "Azerbaijan Ilham Aliyev President of the Republic of Azerbaijan Signatory" in text
    assert "Sources differ on the date signed." in text
    assert '<tr id="point-6">' in html
    assert text.index("A complete ceasefire") < text.index("Aghdam is returned by") < text.index("Kalbajar is returned by")


def test_an_agreement_page_gives_the_status_of_each_deadline(client, demo):
    text = main_text(client.get("/agreements/trilateral-statement-2020/"))
    assert (
        "Return of the Kalbajar district Kalbajar (point 6) 15 November 2020 15 November 2020 → 25 November 2020, "
        "requested by Armenia 25 November 2020 Completed 25 November 2020, on time for the postponed date "
        "(10 days after the original)"
    ) in text


def test_a_late_and_an_overdue_deadline_say_by_how_many_days(client):
    agreement = factories.AgreementFactory(slug="late")
    late = factories.HandoverFactory(deadline__agreement=agreement, deadline__obligation="Late one",
                                     deadline__original_due_on=dt.date(2020, 11, 15))
    services.handover_complete(handover=late, completed_on=dt.date(2020, 11, 18))
    factories.DeadlineFactory(agreement=agreement, obligation="Never done", original_due_on=dt.date(2020, 1, 1))
    factories.DeadlineFactory(agreement=agreement, obligation="Far ahead", original_due_on=dt.date(2999, 1, 1))
    text = main_text(client.get("/agreements/late/"))
    overdue = (dt.date.today() - dt.date(2020, 1, 1)).days
    assert "Never done District" in text and f"Overdue by {overdue} days" in text
    assert "Completed 18 November 2020, 3 days late" in text
    assert "Pending" in text


def test_the_agreement_list_shows_each_published_agreement(client, demo):
    factories.AgreementFactory(title="Unsigned draft", publication_status=PublicationStatus.DRAFT)
    text = main_text(client.get("/agreements/"))
    assert "Trilateral statement of 9 November 2020 Signed 9 November 2020 in Moscow ceasefire statement" in text
    assert "3 signatories · 3 provisions · 3 deadlines" in text
    assert "Unsigned draft" not in text


def test_an_unpublished_agreement_is_not_found(client):
    factories.AgreementFactory(slug="draft-agreement", publication_status=PublicationStatus.DRAFT)
    assert client.get("/agreements/draft-agreement/").status_code == 404


def test_agreement_pages_run_the_same_number_of_queries_for_3_or_30_deadlines(client, django_assert_num_queries):
    agreement = _districts_with_handovers(3)
    factories.SignatoryFactory.create_batch(3, agreement=agreement)
    url = agreement.get_absolute_url()
    expected_detail, expected_list = queries_for(client, url), queries_for(client, "/agreements/")
    more = _districts_with_handovers(27)
    factories.SignatoryFactory.create_batch(27, agreement=agreement)
    factories.DeadlineFactory.create_batch(27, agreement=agreement)
    with django_assert_num_queries(expected_detail):
        client.get(url)
    with django_assert_num_queries(expected_list):
        client.get("/agreements/")
    assert more.deadlines.count() == 27


# --------------------------------------------------------------------------
# The handover tracker
# --------------------------------------------------------------------------


def test_the_tracker_reads_kalbajar_due_15_postponed_to_25_at_armenias_request_completed_25(client):
    load_demo()  # the data file when it is there
    response = client.get("/handovers/")
    html = response.content.decode()
    row = html[html.index('<tr id="handover-kalbajar">') :]
    row = text_of(row[: row.index("</tr>")])
    assert row.startswith("Kalbajar")
    assert "Armenia → Azerbaijan 15 November 2020 15 November 2020 → 25 November 2020, requested by Armenia; agreed by Azerbaijan." in row
    assert "25 November 2020 25 November 2020 10 days after the original deadline; on the postponed deadline Completed" in row


def test_the_tracker_has_a_print_stylesheet(client, demo):
    html = client.get("/handovers/").content.decode()
    assert '<link rel="stylesheet" href="/static/css/print.css" media="print">' in html


def test_the_tracker_shows_scheduled_and_cancelled_handovers(client):
    factories.HandoverFactory(deadline__district__name="Waiting")
    cancelled = factories.HandoverFactory(deadline__district__name="Dropped")
    cancelled.cancelled_on = dt.date(2020, 12, 1)
    cancelled.save()
    factories.HandoverFactory(deadline__district__name="Unpublished", publication_status=PublicationStatus.DRAFT)
    text = main_text(client.get("/handovers/"))
    assert "1 scheduled · 1 cancelled" in text
    assert "Waiting" in text and "Dropped" in text and "Cancelled 1 December 2020" in text
    assert "Unpublished" not in text


def test_the_tracker_runs_the_same_number_of_queries_for_3_or_30_handovers(client, django_assert_num_queries):
    _districts_with_handovers(3)
    expected = queries_for(client, "/handovers/")
    _districts_with_handovers(27)
    with django_assert_num_queries(expected):
        client.get("/handovers/")


def _scheduled_handovers(count):
    agreement = factories.AgreementFactory()
    for n in range(count):
        factories.HandoverFactory(deadline__agreement=agreement, deadline__district__name=f"Place {n:02d}",
                                  deadline__original_due_on=dt.date(2021, 1, 1) + dt.timedelta(days=n))


def test_the_tracker_shows_fifty_handovers_a_page_with_previous_and_next_links(client):
    _scheduled_handovers(55)
    first = client.get("/handovers/")
    html = first.content.decode()
    assert html.count('<tr id="handover-') == 50
    assert "Showing 1–50 of 55 handovers." in main_text(first)
    assert "Place 49" in html and "Place 50" not in html
    assert '<a href="?page=2" rel="next">Next<span class="visually-hidden"> page</span></a>' in html
    assert 'rel="prev"' not in html
    second = client.get("/handovers/?page=2")
    assert second.content.decode().count('<tr id="handover-') == 5
    assert "Showing 51–55 of 55 handovers." in main_text(second)
    assert '<a href="?page=1" rel="prev">' in second.content.decode()


def test_every_page_of_the_tracker_counts_all_handovers(client):
    _scheduled_handovers(55)
    assert "55 scheduled" in main_text(client.get("/handovers/?page=2"))


def test_a_bad_tracker_page_number_shows_a_message_instead_of_failing(client, demo):
    response = client.get("/handovers/?page=9")
    assert response.status_code == 200
    assert "There is no page 9; showing the last page, 1." in main_text(response)


def test_the_tracker_of_one_district_keeps_its_handovers_only(client, demo):
    text = main_text(client.get("/handovers/?district=kalbajar"))
    assert "Handovers of Kalbajar only." in text
    assert "Kalbajar" in text and "Aghdam" not in text and "Lachin" not in text


def test_the_tracker_of_an_unknown_district_says_so_and_shows_every_handover(client, demo):
    response = client.get("/handovers/?district=atlantis")
    assert response.status_code == 400
    text = main_text(response)
    assert "No published district has the address “atlantis”; showing every handover." in text
    assert "Kalbajar" in text and "Lachin" in text


@pytest.mark.parametrize("day", [dt.date(2020, 11, 10), dt.date(2020, 11, 14), dt.date(2020, 11, 29), None])
def test_the_tracker_summary_counts_each_status_as_the_rows_show_it(day):
    _districts_with_handovers(2)  # postponed on the 14th, completed on the 29th
    factories.HandoverFactory()  # scheduled
    factories.HandoverFactory(cancelled_on=dt.date(2020, 11, 20))
    handovers = list(asof.handovers(selectors.handover_list(), day))
    expected = dict.fromkeys(Handover.Status.values, 0)
    for handover in handovers:
        expected[asof.handover_state(handover, day).status] += 1
    assert selectors.handover_status_counts(asof.handovers(selectors.handover_list(), day),
                                            day or implementation.today()) == expected


@pytest.fixture
def draft_party_records():
    """Published records that name a party that is not published: a handover from it (postponed at its
    request, agreed by it), a completed handover to it (so it holds the district), a signature and a
    control change of an entry."""
    from timeline import services

    secret = factories.PartyFactory(name="Secret party", publication_status=PublicationStatus.DRAFT)
    agreement = factories.AgreementFactory(slug="statement", signed_on=dt.date(2020, 11, 9))
    factories.SignatoryFactory(agreement=agreement, party=secret)
    district = factories.DistrictFactory(slug="riverside", conflict=agreement.conflict)
    given = factories.HandoverFactory(deadline__agreement=agreement, deadline__district=district, from_party=secret,
                                      deadline__original_due_on=dt.date(2020, 11, 15),
                                      deadline__due_on=dt.date(2020, 11, 15))
    services.deadline_postpone(deadline=given.deadline, to_date=dt.date(2020, 11, 25), decided_on=dt.date(2020, 11, 14),
                               requested_by=secret, agreed_by=[secret])
    services.handover_complete(handover=given.__class__.objects.get(pk=given.pk), completed_on=dt.date(2020, 11, 25))
    event = factories.EventFactory(title="Control entry", districts=[district], date=dt.date(2020, 11, 26))
    factories.ControlChangeFactory(event=event, district=district, controlled_by=secret)
    return event


def _found_text(client, path: str) -> str:
    """The body of a page or API answer that must be there (a 200)."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("path", ["/handovers/", "/districts/", "/districts/riverside/", "event", "/agreements/statement/",
                                  "/feeds/deadlines.ics", "/", "/api/v1/events/", "/feeds/events.atom"])
def test_a_page_does_not_name_a_party_that_is_not_published(client, draft_party_records, path):
    # The API gives null for such a party (PartyRefSerializer); the pages wrote its name.
    text = _found_text(client, draft_party_records.get_absolute_url() if path == "event" else path)
    assert "Secret party" not in text
    assert "party not yet published" in text.replace("\r\n ", "")


@pytest.fixture
def draft_district_handover():
    """A published, completed handover (and its derived entry) of a district that is not published."""
    from timeline import services

    agreement = factories.AgreementFactory(slug="statement")
    district = factories.DistrictFactory(name="Secret district", slug="secret-place", conflict=agreement.conflict,
                                         publication_status=PublicationStatus.DRAFT)
    handover = factories.HandoverFactory(agreement=agreement, district=district, deadline__agreement=agreement,
                                         deadline__district=district)
    services.handover_complete(handover=handover, completed_on=dt.date(2020, 11, 25))
    return Event.objects.get(origin=Event.Origin.HANDOVER_COMPLETED)


@pytest.mark.parametrize("path", ["/handovers/", "/", "/timeline.json", "/agreements/statement/", "entry",
                                  "/feeds/events.atom", "/api/v1/events/", "/api/v1/handovers/"])
def test_a_page_does_not_name_a_district_that_is_not_published(client, draft_district_handover, path):
    # Neither its name nor its slug (which the address of its page, a 404, would give away).
    text = _found_text(client, draft_district_handover.get_absolute_url() if path == "entry" else path)
    assert "Secret district" not in text and "secret-place" not in text
    if not path.startswith("/api/v1/handovers/"):  # the API gives null there
        assert "istrict not yet published" in text
