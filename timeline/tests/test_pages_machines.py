import xml.etree.ElementTree as ET
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import override_settings

from timeline.models import PublicationStatus
from timeline.tests import factories
from timeline.tests.pages import main_text

pytestmark = pytest.mark.django_db

SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def test_healthz_answers_ok_while_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_when_the_database_is_down(client):
    with mock.patch("timeline.views.connection.cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}


def test_robots_txt_points_at_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "User-agent: *",
        "Disallow:",
        "",
        "Sitemap: http://testserver/sitemap.xml",
    ]


def test_the_sitemap_lists_published_records_and_the_list_pages_but_no_draft(client):
    factories.EventFactory(slug="public-entry")
    factories.EventFactory(slug="draft-entry", publication_status=PublicationStatus.DRAFT)
    factories.EventFactory(slug="withdrawn-entry", publication_status=PublicationStatus.WITHDRAWN)
    factories.DistrictFactory(slug="open-district")
    factories.DistrictFactory(slug="draft-district", publication_status=PublicationStatus.DRAFT)
    factories.AgreementFactory(slug="signed-agreement")
    response = client.get("/sitemap.xml")
    # Our own response, not untrusted input.
    root = ET.fromstring(response.content)  # noqa: S314
    locations = {loc.text for loc in root.findall("s:url/s:loc", SITEMAP_NS)}
    assert locations == {
        "http://testserver/",
        "http://testserver/districts/",
        "http://testserver/agreements/",
        "http://testserver/handovers/",
        "http://testserver/events/public-entry/",
        "http://testserver/districts/open-district/",
        "http://testserver/agreements/signed-agreement/",
    }


def test_an_unknown_address_gets_the_404_page_in_the_sites_style(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert '<html lang="en">' in html and '<nav aria-label="Main">' in html
    assert "There is no published page at this address." in main_text(response)


@override_settings(DEBUG=False)
def test_a_server_error_gets_the_500_page_in_the_sites_style(client):
    client.raise_request_exception = False
    with mock.patch("timeline.views.selectors.agreement_list", side_effect=RuntimeError("boom")):
        response = client.get("/agreements/")
    assert response.status_code == 500
    assert "Something went wrong" in main_text(response)
    assert "boom" not in response.content.decode()


def test_every_page_links_the_feeds_and_has_a_skip_link_and_landmarks(client):
    html = client.get("/").content.decode()
    assert '<a class="skip-link" href="#main">Skip to content</a>' in html
    assert '<main id="main"' in html and "<header" in html and "<footer" in html
    assert '<link rel="alternate" type="application/atom+xml" title="New entries (Atom)" href="/feeds/events.atom">' in html
    assert '<a href="/feeds/deadlines.ics">Deadlines (calendar)</a>' in html


def test_every_page_links_the_changes_feed_the_releases_and_the_api_docs(client):
    """Readers who cite the record find the change feed and the citable releases from any page."""
    html = client.get("/districts/").content.decode()
    assert 'type="application/atom+xml" title="Every published change, corrections and withdrawals (Atom)" ' \
        'href="/feeds/changes.atom"' in html
    assert '<a href="/feeds/changes.atom">Corrections and changes (Atom feed)</a>' in html
    assert '<a href="/data/releases/">Dataset releases (citable downloads)</a>' in html
    assert '<a href="/api/v1/docs/">API documentation</a>' in html


def test_pages_refuse_writes_with_405(client):
    assert client.post("/").status_code == 405
