"""Anonymous and non-staff clients only ever see published records."""

import pytest

from timeline.tests import factories

pytestmark = pytest.mark.django_db


def test_drafts_are_left_out_of_lists_for_anonymous_clients(anon, world):
    slugs = [row["slug"] for row in anon.get("/api/v1/events/?page_size=500").json()["results"]]
    assert "secret-draft" not in slugs
    assert "war-begins" in slugs


def test_a_draft_is_a_404_for_anonymous_and_non_staff_clients(anon, member, world):
    for client in (anon, member):
        response = client.get("/api/v1/events/secret-draft/")
        assert response.status_code == 404
        assert response.json() == {"detail": "No Event matches the given query."}


def test_counts_leave_drafts_out(anon, world):
    factories.PartyFactory(slug="draft-party", publication_status="draft")
    factories.PartyFactory(slug="withdrawn-party", publication_status="withdrawn")
    assert anon.get("/api/v1/parties/").json()["count"] == 3


def test_staff_see_drafts_and_can_filter_by_status(editor, world):
    assert editor.get("/api/v1/events/secret-draft/").status_code == 200
    slugs = [row["slug"] for row in editor.get("/api/v1/events/?status=draft").json()["results"]]
    assert slugs == ["secret-draft"]


def test_a_draft_district_linked_to_a_published_event_is_left_out_of_it(anon, world):
    hidden = factories.DistrictFactory(conflict=world.conflict, slug="hidden", publication_status="draft")
    world.editorial.districts.add(hidden)
    event = anon.get("/api/v1/events/war-begins/").json()
    assert [d["slug"] for d in event["districts"]] == ["kalbajar"]


def test_a_citation_of_a_draft_source_is_left_out_for_anonymous_clients(anon, editor, world):
    draft_source = factories.SourceFactory(slug="unchecked", publication_status="draft")
    factories.CitationFactory(event=world.editorial, source=draft_source)
    assert [c["source"]["slug"] for c in anon.get("/api/v1/events/war-begins/").json()["sources"]] == [
        "statement-text"]
    assert [c["source"]["slug"] for c in editor.get("/api/v1/events/war-begins/").json()["sources"]] == [
        "statement-text", "unchecked"]


def test_deadlines_of_a_draft_agreement_are_hidden(anon, world):
    draft_deal = factories.AgreementFactory(conflict=world.conflict, slug="draft-deal", publication_status="draft")
    deadline = factories.DeadlineFactory(agreement=draft_deal, district=world.lachin)
    assert anon.get(f"/api/v1/deadlines/{deadline.pk}/").status_code == 404
    assert anon.get("/api/v1/deadlines/").json()["count"] == 2


def test_a_draft_handover_is_hidden(anon, world):
    world.agdam_handover.publication_status = "draft"
    world.agdam_handover.save()
    assert anon.get(f"/api/v1/handovers/{world.agdam_handover.pk}/").status_code == 404
    assert anon.get("/api/v1/handovers/").json()["count"] == 1
