"""The workflow in the admin: the permission matrix, four eyes, corrections, soft deletes, history, preview, dashboard."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from timeline import workflow
from timeline.models import Deadline, Event, Handover, Publication, PublicationStatus
from timeline.tests import factories
from timeline.tests.test_admin import admin_url, form_post_data
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db


def client_for(client, role, username):
    client.force_login(user_in(role, username))
    return client


def add_event_data(conflict, **overrides):
    data = {
        "publication_status": "draft", "title": "Talks resume", "slug": "", "conflict": str(conflict.pk),
        "kind": "negotiation", "date": "2021-01-11", "date_precision": "day", "summary": "They met.",
        "change_reason": "new entry",
        "control_changes-TOTAL_FORMS": "0", "control_changes-INITIAL_FORMS": "0",
        "citations-TOTAL_FORMS": "0", "citations-INITIAL_FORMS": "0",
        "discrepancies-TOTAL_FORMS": "0", "discrepancies-INITIAL_FORMS": "0",
    }
    return {**data, **overrides}


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --------------------------------------------------------------------------
# The permission matrix: create, edit, publish, correct, withdraw, revert
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [(None, 302), ("Editors", 302), ("Reviewers", 302),
                                                ("Administrators", 302)])
def test_who_may_create_a_draft_in_the_admin(client, role, expected):
    conflict = factories.ConflictFactory()
    client = client_for(client, role, "someone")

    response = client.post(admin_url(Event, "add"), add_event_data(conflict))

    assert response.status_code == expected
    created = Event.objects.filter(title="Talks resume").exists()
    # The anonymous-like account (not staff) is sent to the login page and creates nothing.
    assert created is (role is not None)
    if created:
        assert Event.objects.get(title="Talks resume").history.latest().history_change_reason == "new entry"


@pytest.mark.parametrize(("role", "published"), [("Editors", False), ("Reviewers", False), ("Administrators", True)])
def test_who_may_create_a_record_directly_published(client, role, published):
    conflict = factories.ConflictFactory()
    client = client_for(client, role, "someone")

    response = client.post(admin_url(Event, "add"), add_event_data(conflict, publication_status="published"))

    assert Event.objects.filter(title="Talks resume").exists() is published
    if not published:
        errors = response.context["adminform"].form.errors["publication_status"]
        assert errors[0].startswith("Only a reviewer can publish") or errors[0].startswith("Four eyes")


def test_an_editor_edits_a_draft(client):
    event = factories.EventFactory(publication_status="draft", title="Old")
    client = client_for(client, "Editors", "edna")
    url = admin_url(Event, "change", event.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "title": "New", "change_reason": "typo"})

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.title == "New"
    assert (event.history.latest().history_user.username, event.history.latest().history_change_reason) == ("edna", "typo")


def test_an_editor_sees_a_published_record_read_only_with_a_message(client):
    event = factories.EventFactory(title="Seen by readers")
    client = client_for(client, "Editors", "edna")

    response = client.get(admin_url(Event, "change", event.pk))

    assert 'name="title"' not in response.content.decode()
    assert any("editors cannot change it in place" in m for m in messages_of(response))


def test_an_editor_posting_over_a_published_record_is_refused_with_a_message(client):
    event = factories.EventFactory(title="Seen by readers")
    client = client_for(client, "Editors", "edna")

    response = client.post(admin_url(Event, "change", event.pk), {"title": "Silently changed"})

    assert response.status_code == 302
    assert messages_of(response)[0].startswith("Nothing was saved. This event is published")
    event.refresh_from_db()
    assert event.title == "Seen by readers"


def test_an_editor_cannot_publish_from_the_form(client):
    event = factories.EventFactory(publication_status="in_review")
    client = client_for(client, "Editors", "edna")
    url = admin_url(Event, "change", event.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "publication_status": "published"})

    assert response.context["adminform"].form.errors["publication_status"] == [
        "Only a reviewer can publish or withdraw a event; set it to “in review” instead."
    ]
    event.refresh_from_db()
    assert event.publication_status == "in_review"


def test_a_reviewer_publishes_an_editors_record_from_the_form(client):
    editor = user_in("Editors", "edna")
    with workflow.change_context(user=editor):
        event = factories.EventFactory(publication_status="in_review")
    client = client_for(client, "Reviewers", "rita")
    url = admin_url(Event, "change", event.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "publication_status": "published"})

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.publication_status == "published"
    assert list(Publication.objects.values_list("action", "user__username")) == [("published", "rita")]


def test_four_eyes_in_the_admin_a_reviewer_cannot_edit_and_publish_in_one_save(client):
    editor = user_in("Editors", "edna")
    with workflow.change_context(user=editor):
        event = factories.EventFactory(publication_status="in_review", title="Draft title")
    client = client_for(client, "Reviewers", "rita")
    url = admin_url(Event, "change", event.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "publication_status": "published",
                                 "title": "My title"})

    assert response.context["adminform"].form.errors["publication_status"][0].startswith("Four eyes")
    event.refresh_from_db()
    assert (event.title, event.publication_status) == ("Draft title", "in_review")


def test_a_reviewer_corrects_a_published_record_with_a_public_note(client):
    event = factories.EventFactory(title="Wrong town")
    client = client_for(client, "Reviewers", "rita")
    url = admin_url(Event, "change", event.pk)
    data = {**form_post_data(client.get(url)), "title": "Right town"}

    refused = client.post(url, {**data, "public_note": ""})
    accepted = client.post(url, {**data, "public_note": "The town was misnamed."})

    assert refused.context["adminform"].form.errors["public_note"][0].startswith("This event is published")
    assert accepted.status_code == 302
    event.refresh_from_db()
    assert event.title == "Right town"
    assert list(Publication.objects.values_list("action", "note")) == [("corrected", "The town was misnamed.")]


@pytest.mark.parametrize(("role", "withdrawn"), [("Editors", False), ("Reviewers", True), ("Administrators", True)])
def test_who_may_withdraw_by_deleting_in_the_admin(client, role, withdrawn):
    event = factories.EventFactory()
    client = client_for(client, role, "someone")

    client.post(admin_url(Event, "delete", event.pk), {"post": "yes", "public_note": "A duplicate entry."})

    event.refresh_from_db()
    assert (event.publication_status == "withdrawn") is withdrawn
    assert Publication.objects.filter(action="withdrawn").exists() is withdrawn


def test_withdrawing_needs_a_note(client):
    event = factories.EventFactory()
    client = client_for(client, "Reviewers", "rita")

    response = client.post(admin_url(Event, "delete", event.pk), {"post": "yes", "public_note": ""})

    assert "Withdrawing needs a short public note" in response.content.decode()
    event.refresh_from_db()
    assert event.publication_status == "published"


def test_an_editor_deletes_a_draft(client):
    event = factories.EventFactory(publication_status="draft")
    client = client_for(client, "Editors", "edna")

    client.post(admin_url(Event, "delete", event.pk), {"post": "yes"})

    assert not Event.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(("role", "reverted"), [("Editors", False), ("Reviewers", True)])
def test_who_may_revert_a_published_record(client, role, reverted):
    event = factories.EventFactory(title="First title")
    first = event.history.earliest()
    workflow.correct(record=event, user=user_in("Administrators", "ada"), fields={"title": "Second"}, note="x")
    client = client_for(client, role, "someone")
    url = admin_url(Event, "simple_history", event.pk, first.history_id)

    page = client.get(url)
    if page.status_code == 200 and "adminform" in page.context:
        client.post(url, {**form_post_data(page), "change_reason": "first was right", "public_note": "Restored."})
    else:
        assert client.post(url, {"change_reason": "first was right"}).status_code == 403

    event.refresh_from_db()
    assert (event.title == "First title") is reverted


# --------------------------------------------------------------------------
# History: reasons, diff, revert round trip
# --------------------------------------------------------------------------


def test_history_round_trip_change_diff_and_revert_to_the_first_version(client):
    event = factories.EventFactory(publication_status="draft", title="First title")
    client = client_for(client, "Editors", "edna")
    url = admin_url(Event, "change", event.pk)
    client.post(url, {**form_post_data(client.get(url)), "title": "Second title", "change_reason": "retitled"})
    change = event.history.latest()

    diff = client.get(reverse("admin:timeline_event_history_diff", args=[event.pk, change.history_id]))
    history_page = client.get(admin_url(Event, "history", event.pk)).content.decode()
    first = event.history.earliest()
    revert_url = admin_url(Event, "simple_history", event.pk, first.history_id)
    reverted = client.post(revert_url, {**form_post_data(client.get(revert_url)), "change_reason": "undo"})

    assert diff.context["changes"] == [{"field": "title", "old": "First title", "new": "Second title"}]
    assert "retitled" in history_page and "field by field" in history_page
    assert reverted.status_code == 302
    event.refresh_from_db()
    assert event.title == "First title"
    latest = event.history.latest()
    assert (latest.history_user.username, latest.history_change_reason) == ("edna",
                                                                              "reverted to an earlier version: undo")


def test_a_revert_without_a_reason_is_refused_in_the_admin(client):
    event = factories.EventFactory(publication_status="draft", title="First title")
    first = event.history.earliest()
    event.title = "Second"
    event.save()
    client = client_for(client, "Editors", "edna")
    url = admin_url(Event, "simple_history", event.pk, first.history_id)

    response = client.post(url, {**form_post_data(client.get(url)), "change_reason": ""})

    assert response.context["adminform"].form.errors["change_reason"] == [
        "Say why you revert: the reason is kept in the history."
    ]
    event.refresh_from_db()
    assert event.title == "Second"


def test_the_audit_view_lists_changes_across_models_for_administrators_only(client, django_assert_num_queries):
    editor = user_in("Editors", "edna")
    with workflow.change_context(user=editor, reason="entered"):
        factories.EventFactory(title="An event")
        factories.PartyFactory(name="A party")
    factories.SourceFactory(title="Someone else's source")
    client.force_login(user_in("Editors", "other"))
    assert client.get(reverse("admin:audit")).status_code == 403

    client.force_login(user_in("Administrators", "ada"))
    response = client.get(reverse("admin:audit"), {"user": editor.pk})

    entries = response.context["entries"]
    assert sorted(entry["kind"] for entry in entries) == ["conflict", "event", "party"]  # the event's conflict too
    assert {"A party", "25 November 2020: An event"} <= {entry["label"] for entry in entries}
    assert {entry["row"].history_change_reason for entry in response.context["entries"]} == {"entered"}
    typed = client.get(reverse("admin:audit"), {"type": "party", "since": "2000-01-01"})
    assert [entry["kind"] for entry in typed.context["entries"]] == ["party"] * len(typed.context["entries"])


def test_the_audit_view_costs_the_same_queries_whatever_the_number_of_changes(client, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(user_in("Administrators", "ada"))
    factories.EventFactory()
    factories.PartyFactory()
    client.get(reverse("admin:audit"))  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:audit"))
    for _ in range(15):
        factories.EventFactory()
        factories.PartyFactory()
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("admin:audit"))
    assert len(response.context["entries"]) == 48  # 16 events, their 16 conflicts and 16 parties



# --------------------------------------------------------------------------
# Preview and dashboard
# --------------------------------------------------------------------------


def test_a_draft_has_a_staff_preview_marked_as_such_and_not_indexed(client):
    event = factories.EventFactory(publication_status="draft", title="Not yet public")
    url = reverse("admin:event-preview", args=[event.pk])

    anonymous = client.get(url)
    client.force_login(user_in("Editors", "edna"))
    response = client.get(url)

    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    content = response.content.decode()
    assert "Preview: readers cannot see this page." in content
    assert '<meta name="robots" content="noindex, nofollow">' in content
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "<h1>Not yet public</h1>" in content
    assert client.get(event.get_absolute_url()).status_code == 404


def test_the_dashboard_lists_what_waits_my_drafts_and_deadlines(client, monkeypatch):
    from timeline import implementation

    monkeypatch.setattr(implementation, "today", lambda: dt.date(2020, 11, 20))
    edna = user_in("Editors", "edna")
    with workflow.change_context(user=edna):
        mine = factories.EventFactory(publication_status="draft", title="Edna's draft")
    factories.EventFactory(publication_status="draft", title="Someone else's draft")
    waiting = factories.PartyFactory(publication_status="in_review", name="Party to check")
    soon = factories.DeadlineFactory(original_due_on=dt.date(2020, 11, 30), due_on=dt.date(2020, 11, 30),
                                     obligation="Due soon")
    late = factories.HandoverFactory(deadline__original_due_on=dt.date(2020, 11, 15),
                                     deadline__due_on=dt.date(2020, 11, 15), deadline__obligation="Overdue")
    done = factories.HandoverFactory(deadline__original_due_on=dt.date(2020, 11, 10),
                                     deadline__due_on=dt.date(2020, 11, 10), completed_on=dt.date(2020, 11, 10),
                                     deadline__obligation="Done")
    client.force_login(edna)

    response = client.get(reverse("admin:dashboard"))

    assert [row["record"] for row in response.context["waiting"]] == [waiting]
    assert [row["record"] for row in response.context["mine"]] == [mine]
    assert [row["deadline"] for row in response.context["due_soon"]] == [soon]
    assert [row["deadline"] for row in response.context["overdue"]] == [late.deadline]
    assert done.deadline not in [row["deadline"] for row in response.context["overdue"]]
    assert Deadline.objects.count() == 3 and Handover.objects.count() == 2


def test_the_dashboard_is_for_staff_only(client):
    client.force_login(user_in(None, "reader"))

    response = client.get(reverse("admin:dashboard"))

    assert response.status_code == 302
    assert PublicationStatus.DRAFT == "draft"
