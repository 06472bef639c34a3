"""The editorial workflow holds in the API exactly as in the admin (roles, four eyes, notes)."""

import pytest
from django.contrib.auth.models import Group

from timeline.models import Event, Publication
from timeline.tests import factories
from timeline.tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def member_of(group, username):
    user = factories.UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user, token_client(user)


@pytest.fixture
def conflict():
    return factories.ConflictFactory(slug="only")


def event_body(**overrides):
    body = {"title": "Talks resume", "summary": "Delegations meet.", "kind": "negotiation",
            "date": "2021-01-11", "date_precision": "day"}
    return {**body, **overrides}


def etag(client, path):
    return client.get(path)["ETag"]


def test_an_editor_creates_a_draft_and_submits_it_for_review(conflict):
    _, editor = member_of("Editors", "ed")
    created = editor.post("/api/v1/events/", event_body(), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["status"] == "draft"
    path = f"/api/v1/events/{created.json()['slug']}/"
    response = editor.patch(path, {"status": "in_review"}, format="json", HTTP_IF_MATCH=etag(editor, path))
    assert response.json()["status"] == "in_review"


def test_an_editor_cannot_publish(conflict):
    _, editor = member_of("Editors", "ed")
    response = editor.post("/api/v1/events/", event_body(status="published"), format="json")
    assert response.status_code == 403
    assert "Only a reviewer can publish" in response.json()["detail"]
    assert not Event.objects.exists()


def test_an_editor_cannot_change_a_published_record_in_place(conflict):
    _, editor = member_of("Editors", "ed")
    event = factories.EventFactory(conflict=conflict, slug="published-one")
    path = f"/api/v1/events/{event.slug}/"
    response = editor.patch(path, {"title": "Quietly changed"}, format="json", HTTP_IF_MATCH=etag(editor, path))
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.title != "Quietly changed"


def test_a_reviewer_cannot_publish_their_own_change(conflict):
    _, reviewer = member_of("Reviewers", "rev")
    response = reviewer.post("/api/v1/events/", event_body(status="published"), format="json")
    assert response.status_code == 409
    assert "Four eyes" in response.json()["detail"]


def test_a_reviewer_publishes_what_an_editor_submitted_and_the_act_is_logged(conflict):
    editor_user, editor = member_of("Editors", "ed")
    reviewer_user, reviewer = member_of("Reviewers", "rev")
    slug = editor.post("/api/v1/events/", event_body(status="in_review"), format="json").json()["slug"]
    path = f"/api/v1/events/{slug}/"
    response = reviewer.patch(path, {"status": "published"}, format="json", HTTP_IF_MATCH=etag(reviewer, path))
    assert response.status_code == 200, response.content
    act = Publication.objects.get()
    assert (act.action, act.slug, act.user) == ("published", slug, reviewer_user)


def test_a_correction_needs_a_public_note_and_is_logged_with_it(conflict):
    _, reviewer = member_of("Reviewers", "rev")
    event = factories.EventFactory(conflict=conflict, slug="to-correct")
    path = f"/api/v1/events/{event.slug}/"
    refused = reviewer.patch(path, {"title": "Corrected title"}, format="json", HTTP_IF_MATCH=etag(reviewer, path))
    assert refused.status_code == 400
    assert "public note" in refused.json()["errors"]["public_note"][0]
    accepted = reviewer.patch(
        path, {"title": "Corrected title", "public_note": "The date was wrong."}, format="json",
        HTTP_IF_MATCH=etag(reviewer, path),
    )
    assert accepted.status_code == 200, accepted.content
    assert Publication.objects.get(action="corrected").note == "The date was wrong."


def test_an_administrator_may_publish_their_own_record(conflict):
    _, administrator = member_of("Administrators", "boss")
    response = administrator.post("/api/v1/events/", event_body(status="published"), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "published"


def test_the_change_reason_is_kept_in_the_history(conflict):
    user, editor = member_of("Editors", "ed")
    response = editor.post("/api/v1/events/", event_body(change_reason="From the ministry's release"), format="json")
    event = Event.objects.get(slug=response.json()["slug"])
    row = event.history.latest()
    assert (row.history_change_reason, row.history_user) == ("From the ministry's release", user)
