import datetime as dt
import re

import pytest
from django.core.cache import caches

from timeline import views
from timeline.cache import CACHE_ALIAS
from timeline.models import District, Event, Precision, PublicationStatus
from timeline.tests import factories
from timeline.tests.pages import inline_script_code, main_text, queries_for
from timeline.tests.site_demo import build_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    build_demo()


def test_the_timeline_shows_each_date_at_its_precision_in_a_time_element(client, demo):
    html = client.get("/").content.decode()
    assert '<time datetime="1988-02">February 1988</time>' in html
    assert '<time datetime="1992">1992–1994</time>' in html
    assert '<time datetime="2020-11-25">25 November 2020</time>' in html


def test_the_timeline_groups_entries_by_year_and_month_in_date_order(client, demo):
    text = main_text(client.get("/"))
    assert text.index("1988 February 1988") < text.index("1992 Dated to the year 1992") < text.index("2020 November 2020")
    assert text.index("Karabakh movement begins") < text.index("Kalbajar taken") < text.index("Kalbajar handed over")


def test_newest_first_reverses_the_order(client, demo):
    text = main_text(client.get("/?order=newest"))
    assert text.index("Kalbajar handed over") < text.index("Kalbajar taken") < text.index("Karabakh movement begins")


def test_an_entry_shows_its_kind_summary_districts_parties_and_sources(client, demo):
    html = client.get("/").content.decode()
    entry = html[html.index('id="event-1988-02-karabakh-movement"') :]
    entry = entry[: entry.index("</article>")]
    assert "political" in entry
    assert "Mass rallies call for the transfer of the region." in entry
    assert '<a href="/?party=armenia">Armenia</a>' in entry
    assert "Armenia hands over Kalbajar after delay" in entry and "(Example Wire)" in entry
    taken = html[html.index('id="event-1993-04-kalbajar-taken"') :]
    assert '<a href="/districts/kalbajar/">Kalbajar</a>' in taken[: taken.index("</article>")]


def test_a_claim_is_labelled_with_its_party_and_marked_as_a_claim(client, demo):
    html = client.get("/").content.decode()
    start = html.index('id="event-2020-11-20-shelling-claim"')
    article = html[html.rindex("<article", 0, start) : html.index("</article>", start)]
    assert 'class="entry entry--claim"' in article
    assert '<p class="claim-label">Claim by Azerbaijan</p>' in article
    fact = html[html.rindex("<article", 0, html.index('id="event-1993-04-kalbajar-taken"')) :]
    assert fact.startswith('<article class="entry" ')


def test_the_count_of_entries_is_shown(client, demo):
    total = Event.objects.published().count()
    assert f"{total} entries." in main_text(client.get("/"))


@pytest.mark.parametrize("query", ["Karvachar", "Кельбаджар", "kelbecer", "Քարվաճառ"])
def test_searching_any_name_of_a_district_finds_its_events(client, demo, query):
    text = main_text(client.get("/", {"q": query}))
    assert "Kalbajar taken" in text
    assert "Kalbajar handed over to Azerbaijan" in text
    assert "Karabakh movement begins" not in text
    assert "Aghdam handed over" not in text


def test_the_district_filter_keeps_only_its_events(client, demo):
    text = main_text(client.get("/?district=aghdam"))
    assert "Aghdam handed over to Azerbaijan" in text
    assert "First war over the region" in text
    assert "Kalbajar taken" not in text


def test_the_party_filter_includes_claims_by_that_party(client, demo):
    text = main_text(client.get("/?party=azerbaijan&kind=statement"))
    assert "1 entry matches these filters." in text
    assert "Shelling reported near the line of contact" in text


def test_the_agreement_filter_keeps_its_derived_entries(client, demo):
    text = main_text(client.get("/?agreement=trilateral-statement-2020"))
    assert "Trilateral statement of 9 November 2020 signed" in text
    assert "Karabakh movement begins" not in text


def test_a_date_range_matches_entries_whose_span_overlaps_it(client, demo):
    text = main_text(client.get("/?from=1993&to=1993-12"))
    assert "First war over the region" in text  # 1992–1994 overlaps 1993
    assert "Kalbajar taken" in text
    assert "Karabakh movement begins" not in text
    assert "2 entries match these filters." in text


def test_filters_have_labels_and_keep_their_values(client, demo):
    html = client.get("/?q=Karvachar&from=1990").content.decode()
    for name in ["q", "district", "party", "kind", "agreement", "from", "to", "order"]:
        assert f'<label for="id_{name}"' in html
        assert f'id="id_{name}"' in html
    assert 'name="q" value="Karvachar"' in html
    assert 'name="from" value="1990"' in html


def test_a_bad_date_and_an_unknown_district_get_a_400_with_messages_not_a_500(client, demo):
    response = client.get("/?from=yesterday&district=atlantis&q=Kalbajar")
    assert response.status_code == 400
    text = main_text(response)
    assert "Some filters could not be used" in text
    assert "Enter a year (1992), a month (1992-05) or a day (1992-05-09)." in text
    assert "Select a valid choice. atlantis is not one of the available choices." in text
    assert "Kalbajar taken" in text  # the valid filter still applies
    assert "Karabakh movement begins" not in text


def test_a_range_that_ends_before_it_starts_is_explained(client, demo):
    response = client.get("/?from=2020&to=1990")
    assert response.status_code == 400
    assert "The end of the range is before its start." in main_text(response)


def test_an_impossible_date_is_explained(client, demo):
    response = client.get("/?to=2020-02-31")
    assert response.status_code == 400
    assert "2020-02-31 is not a real date." in main_text(response)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("abc", "“abc” is not a page number; showing page 1."),
        ("999999", "There is no page 999999; showing the last page, 1."),
        ("0", "Pages start at 1; showing page 1."),
    ],
)
def test_a_bad_page_number_shows_a_message_instead_of_failing(client, demo, page, message):
    response = client.get("/", {"page": page})
    assert response.status_code == 200
    assert message in main_text(response)
    assert "Karabakh movement begins" in main_text(response)


def test_pages_hold_fifty_entries_and_page_links_keep_the_filters(client):
    district = factories.DistrictFactory(slug="riverside")
    for n in range(60):
        factories.EventFactory(title=f"Numbered {n:02d}", date=dt.date(2001, 1, 1) + dt.timedelta(days=n), districts=[district])
    first = client.get("/?district=riverside")
    assert "60 entries match these filters; showing 1–50." in main_text(first)
    assert "Numbered 49" in main_text(first) and "Numbered 50" not in main_text(first)
    assert 'href="?district=riverside&amp;page=2"' in first.content.decode()
    second = client.get("/?district=riverside&page=2")
    assert "showing 51–60." in main_text(second)
    assert "Numbered 50" in main_text(second) and "Numbered 49" not in main_text(second)


@pytest.mark.parametrize("order", ["", "&order=newest"])
def test_a_page_cut_from_the_rows_at_hand_lists_what_the_database_would_page(client, order):
    # Same-day entries make the id the tie-break: the page must hold them as ORDER BY date, id does.
    district = factories.DistrictFactory(slug="riverside")
    for n in range(120):
        factories.EventFactory(title=f"Entry {n:03d}", date=dt.date(2001, 1, 1) + dt.timedelta(days=n // 3),
                               districts=[district])
    newest = bool(order)
    expected = list(Event.objects.filter(districts=district).order_by(*(["-date", "-id"] if newest else ["date", "id"]))
                    .values_list("title", flat=True))[50:100]
    text = main_text(client.get(f"/?district=riverside&page=2{order}"))
    shown = re.findall(r"Entry \d{3}", text)
    assert shown == expected


@pytest.mark.parametrize("page", ["timeline", "district", "event"])
def test_an_entry_names_only_published_districts_and_parties(client, page):
    # The API leaves them out (test_event_list_data.py); the pages said their names, linking to a 404.
    seen = factories.DistrictFactory(name="Open district", slug="open-district")
    hidden = factories.DistrictFactory(name="Secret district", publication_status=PublicationStatus.DRAFT)
    party = factories.PartyFactory(name="Secret party", publication_status=PublicationStatus.DRAFT)
    event = factories.EventFactory(title="Public entry", districts=[seen, hidden], parties=[party])
    path = {"timeline": "/", "district": "/districts/open-district/", "event": event.get_absolute_url()}[page]
    response = client.get(path)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Public entry" in html and "Open district" in html
    assert "Secret district" not in html
    assert "Secret party" not in html


@pytest.mark.parametrize("page", ["timeline", "district", "event", "feed"])
def test_a_claim_by_an_unpublished_party_is_marked_as_a_claim_without_its_name(client, page):
    # The API gives claimed_by null with is_claim true; the pages wrote "Claim by <the draft party's name>".
    factories.DistrictFactory(name="Open district", slug="open-district")
    party = factories.PartyFactory(name="Secret party", publication_status=PublicationStatus.DRAFT)
    event = factories.EventFactory(title="Claimed entry", claimed_by=party,
                                   districts=[District.objects.get(slug="open-district")])
    path = {"timeline": "/", "district": "/districts/open-district/", "event": event.get_absolute_url(),
            "feed": "/feeds/events.atom"}[page]
    html = client.get(path).content.decode()
    assert "Claimed entry" in html
    assert "Secret party" not in html
    assert "Claim by a party not yet published" in html
    if page == "timeline":
        assert client.get("/timeline.json").json()["items"][0]["claimedBy"] == "a party not yet published"


def test_a_claim_by_a_published_party_names_it(client):
    party = factories.PartyFactory(name="Open party")
    factories.EventFactory(title="Claimed entry", claimed_by=party)
    assert "Claim by Open party" in main_text(client.get("/"))


def test_drafts_and_entries_in_review_never_appear(client):
    factories.EventFactory(title="Visible entry")
    factories.EventFactory(title="Draft entry", publication_status=PublicationStatus.DRAFT)
    factories.EventFactory(title="Entry in review", publication_status=PublicationStatus.IN_REVIEW)
    response = client.get("/")
    assert "Visible entry" in main_text(response)
    assert "Draft entry" not in response.content.decode()
    assert "Entry in review" not in response.content.decode()
    assert "1 entry." in main_text(response)
    assert [item["title"] for item in client.get("/timeline.json").json()["items"]] == ["Visible entry"]


def test_the_visual_timeline_data_has_points_and_ranges_linking_to_entries(client, demo):
    response = client.get("/timeline.json")
    assert response["Content-Type"] == "application/json"
    items = {item["title"]: item for item in response.json()["items"]}
    war = items["First war over the region"]
    assert (war["type"], war["start"], war["end"], war["date"]) == ("range", "1992-01-01", "1995-01-01", "1992–1994")
    taken = items["Kalbajar taken"]
    assert (taken["type"], taken["start"], taken["url"]) == ("point", "1993-04-03", "/events/1993-04-kalbajar-taken/")
    assert "end" not in taken
    assert items["Shelling reported near the line of contact"]["claimedBy"] == "Azerbaijan"
    assert len(items) == Event.objects.published().count()


def test_the_visual_timeline_follows_the_filters(client, demo):
    data = client.get("/timeline.json?district=lachin").json()
    titles = {item["title"] for item in data["items"]}
    assert "Lachin handed over to Azerbaijan" in titles
    assert "Kalbajar taken" not in titles
    assert (data["cut"], len(titles)) == (False, Event.objects.published().filter(districts__slug="lachin").count())


@pytest.mark.parametrize("query", ["?district=lachin&order=newest&page=2", "?as_of=2020-11-20&page=1"])
def test_the_page_fetches_its_visual_data_with_its_filters_but_not_its_page_number(client, demo, query):
    html = client.get("/" + query).content.decode()
    wanted = query.replace("&page=2", "").replace("&page=1", "").replace("&", "&amp;")
    assert f'data-src="/timeline.json{wanted}"' in html


def test_the_visual_data_as_of_a_day_leaves_out_later_entries(client, demo):
    items = client.get("/timeline.json?as_of=2020-11-20").json()["items"]
    assert max(item["start"] for item in items) == "2020-11-20"
    assert "Kalbajar taken" in {item["title"] for item in items}
    assert len(items) < len(client.get("/timeline.json").json()["items"])


@pytest.mark.parametrize("query", ["?district=no-such-district", "?from=31-31-2020", "?as_of=tomorrowish"])
def test_bad_visual_data_parameters_are_a_400_naming_the_field(client, demo, query):
    response = client.get("/timeline.json" + query)
    assert response.status_code == 400
    field = query[1:].split("=")[0]
    assert list(response.json()["errors"]) == [field]
    assert response.json()["errors"][field][0]
    assert "data-src" not in client.get("/" + query).content.decode()  # the page draws no visual timeline then


def test_the_timeline_page_has_no_inline_script_code(client, demo):
    response = client.get("/")
    assert inline_script_code(response) == []
    assert '<script src="/static/js/timeline.js" defer></script>' in response.content.decode()


def test_an_empty_result_says_so(client, demo):
    response = client.get("/?q=nothing-has-this-name")
    assert "No entries match these filters." in main_text(response)
    assert 'id="visual-timeline"' not in response.content.decode()


def _events(count, district, party, source):
    for n in range(count):
        event = factories.EventFactory(
            date=dt.date(1990 + n % 20, 1 + n % 12, 1), date_precision=Precision.MONTH,
            districts=[district], parties=[party], claimed_by=party if n % 3 == 0 else None,
        )
        factories.CitationFactory(event=event, source=source)


@pytest.mark.parametrize("url", ["/", "/?q=Alias&order=newest", "/?district=the-district&from=1991&page=1",
                                 "/timeline.json?district=the-district&from=1991"])
def test_the_timeline_runs_the_same_number_of_queries_for_3_or_30_entries(client, django_assert_num_queries, url):
    district = factories.DistrictFactory(slug="the-district")
    factories.DistrictAliasFactory(district=district, name="Alias")
    party, source = factories.PartyFactory(), factories.SourceFactory()
    _events(3, district, party, source)
    expected = queries_for(client, url)
    _events(27, district, party, source)
    client.get(url)  # the first answer after a change of the record reloads the filter's option lists
    caches[CACHE_ALIAS].clear()
    with django_assert_num_queries(expected):
        response = client.get(url)
    assert response.status_code == 200


def test_the_filter_reads_its_option_lists_once_per_version_of_the_record(client, demo, django_assert_num_queries):
    first = queries_for(client, "/?kind=military")  # its warm-up read the districts, parties and agreements
    caches[CACHE_ALIAS].clear()
    with django_assert_num_queries(first):
        client.get("/?kind=political")
    factories.PartyFactory(name="Newly published party")
    caches[CACHE_ALIAS].clear()
    with django_assert_num_queries(first + 3):
        client.get("/?kind=political")


def test_a_district_published_since_the_last_answer_is_in_the_filter(client, demo):
    client.get("/")
    factories.DistrictFactory(name="Newtown", slug="newtown")
    assert '<option value="newtown">Newtown</option>' in client.get("/?kind=military").content.decode()


def test_past_the_visual_limit_the_count_is_exact(client, monkeypatch):
    monkeypatch.setattr(views, "VISUAL_LIMIT", 3)
    _events(7, factories.DistrictFactory(), factories.PartyFactory(), factories.SourceFactory())
    response = client.get("/")
    assert "7 entries." in main_text(response)
    assert "only the first 3 are drawn" in main_text(response)
    data = client.get("/timeline.json").json()
    first = list(Event.objects.order_by("date", "id").values_list("pk", flat=True)[:3])
    assert (data["cut"], data["limit"], [item["id"] for item in data["items"]]) == (True, 3, first)
    newest = client.get("/timeline.json?order=newest").json()
    assert sorted(item["id"] for item in newest["items"]) == sorted(
        Event.objects.order_by("-date", "-id").values_list("pk", flat=True)[:3])


def test_past_the_count_limit_the_page_says_more_than_and_where_pages_stop(client, monkeypatch):
    monkeypatch.setattr(views, "VISUAL_LIMIT", 3)
    monkeypatch.setattr(views, "COUNT_LIMIT", 5)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    _events(9, factories.DistrictFactory(), factories.PartyFactory(), factories.SourceFactory())
    text = main_text(client.get("/"))
    assert "More than 5 entries; showing 1–2." in text
    text = main_text(client.get("/?page=7"))
    assert "Pages stop at 3: more than 5 entries match." in text
