"""The workflow services: roles, four eyes, corrections, withdrawals, reverts and soft deletes."""

import pytest
from django.contrib.auth.models import Group

from timeline import workflow
from timeline.models import Event, Publication, PublicationStatus
from timeline.tests import factories
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db

DRAFT, IN_REVIEW, PUBLISHED, WITHDRAWN = "draft", "in_review", "published", "withdrawn"


@pytest.fixture
def editor(db):
    return user_in("Editors", "edna")


@pytest.fixture
def reviewer(db):
    return user_in("Reviewers", "rita")


@pytest.fixture
def second_reviewer(db):
    return user_in("Reviewers", "rolf")


@pytest.fixture
def administrator(db):
    return user_in("Administrators", "ada")


def written_by(user, **kwargs) -> Event:
    """A draft event whose history says ``user`` wrote it."""
    with workflow.change_context(user=user, reason="first draft"):
        return factories.EventFactory(publication_status=PublicationStatus.DRAFT, **kwargs)


def acts(record) -> list[tuple[str, str, str]]:
    return list(Publication.objects.filter(object_id=record.pk).values_list("action", "note", "user__username"))


def test_the_migration_creates_the_three_roles_with_their_permissions():
    perms = {group.name: set(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()}

    assert {"add_event", "change_event", "delete_event"} <= perms["Editors"]
    assert "review_event" not in perms["Editors"]
    assert {f"review_{m}" for m in ["event", "party", "district", "source", "agreement", "handover"]} <= perms["Reviewers"]
    assert {"add_user", "change_user", "change_group"} <= perms["Administrators"]
    assert "change_user" not in perms["Reviewers"]
    assert "change_historicalevent" not in perms["Reviewers"]


def test_an_editor_submits_a_draft_for_review(editor):
    event = written_by(editor)

    workflow.submit_for_review(record=event, user=editor)

    event.refresh_from_db()
    assert event.publication_status == IN_REVIEW
    latest = event.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (editor, "submitted for review")


def test_an_editor_cannot_publish(editor):
    event = written_by(editor)

    with pytest.raises(workflow.WorkflowError, match="Only a reviewer can publish"):
        workflow.publish(record=event, user=editor)
    event.refresh_from_db()
    assert event.publication_status == DRAFT


def test_a_reviewer_publishes_what_an_editor_wrote_and_the_act_is_logged(editor, reviewer):
    event = written_by(editor)
    workflow.submit_for_review(record=event, user=editor)

    workflow.publish(record=event, user=reviewer)

    event.refresh_from_db()
    assert (event.publication_status, event.published_at is not None) == (PUBLISHED, True)
    assert acts(event) == [("published", "", "rita")]


def test_four_eyes_a_reviewer_cannot_publish_their_own_change(editor, reviewer):
    event = written_by(editor)
    workflow.submit_for_review(record=event, user=editor)
    event.refresh_from_db()
    with workflow.change_context(user=reviewer, reason="tightened the title"):
        event.title = "A title the reviewer wrote"
        event.save()

    with pytest.raises(workflow.WorkflowError, match="Four eyes") as refusal:
        workflow.publish(record=event, user=reviewer)
    assert refusal.value.code == "conflict"
    event.refresh_from_db()
    assert event.publication_status == IN_REVIEW


def test_four_eyes_another_reviewer_may_publish_that_change(editor, reviewer, second_reviewer):
    event = written_by(reviewer)
    workflow.submit_for_review(record=event, user=reviewer)

    workflow.publish(record=event, user=second_reviewer)

    event.refresh_from_db()
    assert event.publication_status == PUBLISHED


def test_four_eyes_does_not_bind_an_administrator(administrator):
    event = written_by(administrator)

    workflow.publish(record=event, user=administrator)

    event.refresh_from_db()
    assert event.publication_status == PUBLISHED


def test_a_correction_needs_a_public_note(reviewer):
    event = factories.EventFactory(title="Wrong town")

    with pytest.raises(workflow.WorkflowError, match="public note") as refusal:
        workflow.correct(record=event, user=reviewer, fields={"title": "Right town"}, note="  ")
    assert refusal.value.code == "note_required"
    event.refresh_from_db()
    assert event.title == "Wrong town"


def test_a_correction_changes_the_record_and_tells_readers(reviewer):
    event = factories.EventFactory(title="Wrong town")

    workflow.correct(record=event, user=reviewer, fields={"title": "Right town"}, note="The town was misnamed.")

    event.refresh_from_db()
    assert (event.title, event.publication_status) == ("Right town", PUBLISHED)
    assert acts(event) == [("corrected", "The town was misnamed.", "rita")]
    assert event.history.latest().history_change_reason == "correction: The town was misnamed."


def test_an_editor_cannot_correct_a_published_record(editor):
    event = factories.EventFactory(title="Wrong town")

    with pytest.raises(workflow.WorkflowError, match="editor cannot change it in place"):
        workflow.correct(record=event, user=editor, fields={"title": "Right town"}, note="Misnamed.")


def test_withdrawing_keeps_the_record_and_logs_the_note(reviewer):
    event = factories.EventFactory()

    workflow.withdraw(record=event, user=reviewer, note="Based on a forged document.")

    event.refresh_from_db()
    assert event.publication_status == WITHDRAWN
    assert acts(event) == [("withdrawn", "Based on a forged document.", "rita")]


def test_a_published_record_cannot_go_back_to_draft(reviewer):
    event = factories.EventFactory()

    with pytest.raises(workflow.WorkflowError, match="cannot go back to draft"):
        workflow.check_transition(user=reviewer, record=event, old_status=PUBLISHED, new_status=DRAFT,
                                  content_changed=False)


def test_deleting_a_published_record_withdraws_it(reviewer):
    event = factories.EventFactory()

    workflow.delete_or_withdraw(record=event, user=reviewer, note="Duplicate of another entry.")

    event.refresh_from_db()
    assert event.publication_status == WITHDRAWN
    assert acts(event) == [("withdrawn", "Duplicate of another entry.", "rita")]


def test_deleting_a_draft_really_deletes_it(editor):
    event = written_by(editor)

    assert workflow.delete_or_withdraw(record=event, user=editor) is None
    assert not Event.objects.filter(pk=event.pk).exists()


def test_an_editor_cannot_delete_a_published_record(editor):
    event = factories.EventFactory()

    with pytest.raises(workflow.WorkflowError, match="only a reviewer"):
        workflow.delete_or_withdraw(record=event, user=editor, note="No.")
    event.refresh_from_db()
    assert event.publication_status == PUBLISHED


def test_reverting_a_draft_restores_its_content_as_a_new_recorded_change(editor):
    event = written_by(editor, title="First title")
    first = event.history.latest()
    with workflow.change_context(user=editor):
        event.title = "Second title"
        event.save()

    workflow.revert(record=event, history_id=first.history_id, user=editor, reason="The first title was right.")

    event.refresh_from_db()
    assert event.title == "First title"
    latest = event.history.latest()
    assert latest.history_user == editor
    assert latest.history_change_reason.startswith("reverted to the version of ")
    assert latest.history_change_reason.endswith(": The first title was right.")
    assert event.history.count() == 3


def test_reverting_a_published_record_is_a_correction_for_a_reviewer_only(editor, reviewer):
    event = factories.EventFactory(title="First title")
    first = event.history.earliest()
    workflow.correct(record=event, user=reviewer, fields={"title": "Second title"}, note="Retitled.")

    with pytest.raises(workflow.WorkflowError):
        workflow.revert(record=event, history_id=first.history_id, user=editor, reason="Back.", note="Back.")
    workflow.revert(record=event, history_id=first.history_id, user=reviewer, reason="Back.",
                    note="The first title was right.")

    event.refresh_from_db()
    assert event.title == "First title"
    assert [a[0:2] for a in acts(event)] == [("corrected", "Retitled."), ("corrected", "The first title was right.")]


def test_a_revert_without_a_reason_is_refused(editor):
    event = written_by(editor)

    with pytest.raises(workflow.WorkflowError, match="Say why"):
        workflow.revert(record=event, history_id=event.history.latest().history_id, user=editor, reason=" ")


# --------------------------------------------------------------------------
# What readers see
# --------------------------------------------------------------------------


def test_the_public_page_shows_each_correction_with_its_date_and_note(client, reviewer):
    event = factories.EventFactory(title="Wrong town", slug="an-event")
    workflow.correct(record=event, user=reviewer, fields={"title": "Right town"}, note="The town was misnamed.")

    content = client.get("/events/an-event/").content.decode()

    day = Publication.objects.get().at.strftime("%-d %B %Y")
    assert f"Corrected on <time datetime=\"{Publication.objects.get().at:%Y-%m-%d}\">{day}</time>:</strong> The town was misnamed." in content
    assert "<h1>Right town</h1>" in content


def test_a_withdrawn_event_keeps_a_page_that_says_so_with_the_note(client, reviewer):
    event = factories.EventFactory(title="Forged", slug="forged")
    workflow.withdraw(record=event, user=reviewer, note="Based on a forged document.")

    response = client.get("/events/forged/")

    assert response.status_code == 410
    content = response.content.decode()
    assert "This entry was withdrawn" in content
    assert "Based on a forged document." in content


@pytest.mark.parametrize("status", ["draft", "in_review"])
def test_drafts_are_invisible_everywhere_public(client, status):
    from django.core.cache import cache

    cache.clear()
    conflict = factories.ConflictFactory()
    factories.EventFactory(conflict=conflict, title="Public entry", slug="public-entry")
    factories.EventFactory(conflict=conflict, title="Secret unreviewed entry", slug="secret-entry",
                           publication_status=status)

    pages = {path: client.get(path) for path in ["/", "/?q=secret", "/feeds/events.atom", "/sitemap.xml",
                                                  "/api/v1/events/", "/api/v1/events/?q=secret"]}

    assert client.get("/events/secret-entry/").status_code == 404
    assert client.get("/api/v1/events/secret-entry/").status_code == 404
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert "Secret unreviewed entry" not in response.content.decode(), path
        assert "secret-entry" not in response.content.decode(), path
    assert "Public entry" in pages["/"].content.decode()
    assert [row["title"] for row in pages["/api/v1/events/"].json()["results"]] == ["Public entry"]


def agreement_in_review_by(editor):
    with workflow.change_context(user=editor, reason="first draft"):
        agreement = factories.AgreementFactory(publication_status=PublicationStatus.DRAFT)
    workflow.submit_for_review(record=agreement, user=editor)
    agreement.refresh_from_db()
    return agreement


def test_four_eyes_counts_a_row_the_reviewer_added_to_the_record(editor, reviewer):
    """A provision is part of its agreement: the reviewer who added it made the latest change."""
    agreement = agreement_in_review_by(editor)
    with workflow.change_context(user=reviewer, reason="added point 9"):
        factories.ProvisionFactory(agreement=agreement, number="9")

    with pytest.raises(workflow.WorkflowError, match="Four eyes"):
        workflow.publish(record=agreement, user=reviewer)
    agreement.refresh_from_db()
    assert agreement.publication_status == IN_REVIEW


def test_four_eyes_lets_another_reviewer_publish_after_a_reviewers_row_change(editor, reviewer, second_reviewer):
    agreement = agreement_in_review_by(editor)
    with workflow.change_context(user=reviewer, reason="added point 9"):
        factories.ProvisionFactory(agreement=agreement, number="9")

    workflow.publish(record=agreement, user=second_reviewer)

    agreement.refresh_from_db()
    assert agreement.publication_status == PUBLISHED


def test_four_eyes_ignores_rows_of_other_records(editor, reviewer):
    agreement = agreement_in_review_by(editor)
    with workflow.change_context(user=reviewer, reason="elsewhere"):
        factories.ProvisionFactory(number="9")  # another agreement's provision

    workflow.publish(record=agreement, user=reviewer)

    agreement.refresh_from_db()
    assert agreement.publication_status == PUBLISHED
