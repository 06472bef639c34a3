"""The feed of public changes: ``/api/v1/changes/`` and ``/feeds/changes.atom``."""

import xml.etree.ElementTree as ET

import pytest
from rest_framework.test import APIClient

from timeline import workflow
from timeline.models import Publication
from timeline.tests import factories
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def acts(db):
    """Publish, correct and withdraw an event through the workflow, as reviewers do."""
    editor, reviewer = user_in("Editors", "edna"), user_in("Reviewers", "rita")
    event = factories.EventFactory(slug="road", title="Road opens", publication_status="in_review")
    workflow.publish(record=event, user=reviewer)
    workflow.correct(record=event, user=reviewer, fields={"title": "Road reopens"}, note="It had opened before.")
    workflow.withdraw(record=event, user=reviewer, note="Based on a forged document.")
    assert editor  # the editor wrote it; the reviewer made it public
    return event


def test_the_feed_lists_publication_correction_and_withdrawal_oldest_first(api, acts):
    rows = api.get("/api/v1/changes/").json()["results"]
    assert [(r["action"], r["type"], r["slug"], r["title"], r["note"]) for r in rows] == [
        ("published", "event", "road", "Road opens", ""),
        ("corrected", "event", "road", "Road reopens", "It had opened before."),
        ("withdrawn", "event", "road", "Road reopens", "Based on a forged document."),
    ]
    assert rows[0]["url"] == "http://testserver/api/v1/events/road/"
    assert set(rows[0]) == {"at", "action", "type", "slug", "id", "title", "note", "url"}


def test_since_gives_only_the_changes_after_it(api, acts):
    first = Publication.objects.order_by("at", "id").first()
    rows = api.get("/api/v1/changes/", {"since": first.at.isoformat()}).json()["results"]
    assert [r["action"] for r in rows] == ["corrected", "withdrawn"]


def test_the_feed_pages_with_a_cursor(api, acts):
    page = api.get("/api/v1/changes/", {"page_size": 2}).json()
    assert [r["action"] for r in page["results"]] == ["published", "corrected"]
    rest = api.get(page["next"]).json()
    assert [r["action"] for r in rest["results"]] == ["withdrawn"]
    assert rest["next"] is None


def test_a_bad_since_is_a_400_naming_it(api, db):
    response = api.get("/api/v1/changes/", {"since": "last week"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["since"]


def test_the_feed_runs_a_constant_number_of_queries(api, acts, django_assert_num_queries):
    reviewer = user_in("Reviewers", "rolf")
    for n in range(10):
        event = factories.EventFactory(publication_status="in_review", slug=f"more-{n}")
        workflow.publish(record=event, user=reviewer)
    with django_assert_num_queries(1 + 1):  # the record clock (anonymous answers are cached), the changes
        assert len(api.get("/api/v1/changes/").json()["results"]) == 13


def test_the_atom_feed_has_the_same_changes_with_their_notes(client, acts):
    response = client.get("/feeds/changes.atom")
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own feed)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = [(e.findtext("a:title", namespaces=ns), e.findtext("a:summary", namespaces=ns))
               for e in root.findall("a:entry", ns)]
    assert entries == [
        ("Withdrawn: Road reopens", "Based on a forged document."),
        ("Corrected: Road reopens", "It had opened before."),
        ("Published: Road opens", "Event published."),
    ]
