"""Rows of a published record (deadlines, postponements, provisions, citations, names) change only as a
correction of that record: by a reviewer, with a public note, logged as the record's ``corrected`` act.

The rule is ``workflow.check_row_change``; the admin (own pages, inlines, deletes) and the API (writes, the
postpone action) apply it at their edge. Rows of unpublished records stay free for editors.
"""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from timeline import services, workflow
from timeline.models import Citation, Deadline, Postponement, Provision, Publication
from timeline.tests import factories
from timeline.tests.api.conftest import token_client
from timeline.tests.test_admin import admin_url, form_post_data
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db

NOTE = "The second deadline had been left out."


@pytest.fixture
def editor(db):
    return user_in("Editors", "edna")


@pytest.fixture
def reviewer(db):
    return user_in("Reviewers", "rita")


@pytest.fixture
def deadline(db):
    """A deadline of a published agreement."""
    return factories.DeadlineFactory(agreement=factories.AgreementFactory(title="Ceasefire statement"),
                                     obligation="Return of the district")


def corrections(record) -> list[tuple[str, str]]:
    return [(act.note, act.user.username) for act in workflow.corrections_of(record)]


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def logged_in(client, user):
    client.force_login(user)
    return client


def etag(api, path):
    return api.get(path)["ETag"]


# --------------------------------------------------------------------------
# The rule itself
# --------------------------------------------------------------------------


def test_the_rows_of_a_record_know_the_record_they_belong_to(deadline):
    postponement = services.deadline_postpone(deadline=deadline, to_date=deadline.due_on.replace(day=25),
                                              decided_on=deadline.due_on)
    citation = factories.CitationFactory(event=None, postponement=postponement)

    assert workflow.owners_of(citation) == [deadline.agreement]
    assert workflow.owners_of(Postponement(deadline=deadline), Provision(agreement=deadline.agreement)) == [
        deadline.agreement
    ]
    assert workflow.owners_of(factories.EventFactory()) == []  # a publishable record is nobody's row


def test_an_editor_may_not_change_a_row_of_a_published_record(editor, deadline):
    with pytest.raises(workflow.WorkflowError) as refused:
        workflow.check_row_change(user=editor, rows=[deadline], note="Anything.")

    assert refused.value.code == "forbidden"
    assert "an editor cannot change, add or delete them" in refused.value.message


def test_services_without_a_user_stay_free(deadline):
    """Imports and management commands call the services directly; the rule is at the admin and API edge."""
    services.deadline_postpone(deadline=deadline, to_date=deadline.due_on.replace(day=28),
                               decided_on=deadline.due_on)

    assert deadline.postponements.count() == 1
    assert not Publication.objects.exists()


# --------------------------------------------------------------------------
# Admin: a deadline's own page
# --------------------------------------------------------------------------


def test_an_editor_changing_a_deadline_of_a_published_agreement_in_the_admin_is_refused(client, editor, deadline):
    client = logged_in(client, editor)

    response = client.post(admin_url(Deadline, "change", deadline.pk), {"obligation": "Quietly changed"})

    assert response.status_code == 302
    assert messages_of(response)[0].startswith(
        "Nothing was saved. The deadlines of the agreement “Ceasefire statement” are part of what readers see"
    )
    deadline.refresh_from_db()
    assert deadline.obligation == "Return of the district"


def test_an_editor_sees_a_deadline_of_a_published_agreement_read_only(client, editor, deadline):
    client = logged_in(client, editor)

    response = client.get(admin_url(Deadline, "change", deadline.pk))

    assert 'name="obligation"' not in response.content.decode()
    assert any("Ask a reviewer to correct the agreement" in m for m in messages_of(response))


def test_a_reviewer_changing_a_deadline_without_a_note_gets_an_error_on_the_note(client, reviewer, deadline):
    client = logged_in(client, reviewer)
    url = admin_url(Deadline, "change", deadline.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "obligation": "Return of two districts",
                                 "public_note": ""})

    assert response.context["adminform"].form.errors["public_note"][0].startswith(
        "The agreement “Ceasefire statement” is published: changing its deadlines is a correction, which needs "
        "a short public note"
    )
    deadline.refresh_from_db()
    assert deadline.obligation == "Return of the district"


def correct_deadline_in_admin(client, reviewer, deadline):
    client = logged_in(client, reviewer)
    url = admin_url(Deadline, "change", deadline.pk)
    response = client.post(url, {**form_post_data(client.get(url)), "obligation": "Return of two districts",
                                 "public_note": NOTE})
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    return response


def test_a_reviewer_with_a_note_corrects_the_agreement_through_its_deadline(client, reviewer, deadline):
    correct_deadline_in_admin(client, reviewer, deadline)

    deadline.refresh_from_db()
    assert deadline.obligation == "Return of two districts"
    assert corrections(deadline.agreement) == [(NOTE, "rita")]


def test_the_agreement_page_shows_the_correction_of_its_deadline(client, reviewer, deadline):
    correct_deadline_in_admin(client, reviewer, deadline)
    client.logout()

    page = client.get(deadline.agreement.get_absolute_url()).content.decode()

    assert "Corrected on <time" in page
    assert NOTE in page


def test_the_changes_feed_lists_the_correction_of_a_deadline(client, reviewer, deadline):
    correct_deadline_in_admin(client, reviewer, deadline)

    results = client.get("/api/v1/changes/").json()["results"]

    assert [(r["action"], r["type"], r["title"], r["note"]) for r in results] == [
        ("corrected", "agreement", "Ceasefire statement", NOTE)
    ]


def test_an_editor_adding_a_deadline_to_a_published_agreement_gets_a_form_error(client, editor, deadline):
    client = logged_in(client, editor)
    data = {"agreement": str(deadline.agreement_id), "obligation": "A new one", "original_due_on": "2020-12-01",
            "change_reason": "", "public_note": "",
            "postponements-TOTAL_FORMS": "0", "postponements-INITIAL_FORMS": "0",
            "citations-TOTAL_FORMS": "0", "citations-INITIAL_FORMS": "0",
            "discrepancies-TOTAL_FORMS": "0", "discrepancies-INITIAL_FORMS": "0"}

    response = client.post(admin_url(Deadline, "add"), data)

    errors = response.context["adminform"].form.non_field_errors()
    assert "an editor cannot change, add or delete them" in errors[0]
    assert not Deadline.objects.filter(obligation="A new one").exists()


def test_an_editor_changes_a_deadline_of_a_draft_agreement_freely(client, editor):
    deadline = factories.DeadlineFactory(agreement__publication_status="draft", obligation="Draft obligation")
    client = logged_in(client, editor)
    url = admin_url(Deadline, "change", deadline.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "obligation": "Better wording"})

    assert response.status_code == 302
    deadline.refresh_from_db()
    assert deadline.obligation == "Better wording"
    assert not Publication.objects.exists()


# --------------------------------------------------------------------------
# Admin: a provision added on the agreement's page (an inline)
# --------------------------------------------------------------------------


def agreement_page_with_a_new_provision(client, agreement, note):
    url = admin_url(type(agreement), "change", agreement.pk)
    data = form_post_data(client.get(url))
    total = int(data["provisions-TOTAL_FORMS"])
    data.update({"provisions-TOTAL_FORMS": str(total + 1), f"provisions-{total}-number": "9",
                 f"provisions-{total}-summary": "Prisoners are exchanged.", "public_note": note})
    return client.post(url, data)


def inline_errors(response, prefix: str) -> list[str]:
    return next(list(inline.formset.non_form_errors()) for inline in response.context["inline_admin_formsets"]
                if inline.formset.prefix == prefix)


def test_a_reviewer_adding_a_provision_inline_without_a_note_gets_an_error_naming_it(client, reviewer, deadline):
    client = logged_in(client, reviewer)

    response = agreement_page_with_a_new_provision(client, deadline.agreement, note="")

    assert "needs a short public note" in inline_errors(response, "provisions")[0]
    assert not Provision.objects.exists()


def test_a_reviewer_adding_a_provision_inline_with_a_note_corrects_the_agreement_once(client, reviewer, deadline):
    client = logged_in(client, reviewer)

    response = agreement_page_with_a_new_provision(client, deadline.agreement, note="Point 9 was missing.")

    assert response.status_code == 302
    assert list(Provision.objects.values_list("number", flat=True)) == [9]
    assert corrections(deadline.agreement) == [("Point 9 was missing.", "rita")]


def test_an_editor_cannot_add_a_provision_to_a_published_agreement(client, editor, deadline):
    client = logged_in(client, editor)

    response = client.post(admin_url(type(deadline.agreement), "change", deadline.agreement_id),
                           {"provisions-TOTAL_FORMS": "1", "provisions-INITIAL_FORMS": "0",
                            "provisions-0-number": "9", "provisions-0-summary": "Smuggled in."})

    assert messages_of(response)[0].startswith("Nothing was saved.")
    assert not Provision.objects.exists()


def test_an_editor_adds_a_provision_to_a_draft_agreement_freely(client, editor):
    agreement = factories.AgreementFactory(publication_status="draft")
    client = logged_in(client, editor)

    response = agreement_page_with_a_new_provision(client, agreement, note="")

    assert response.status_code == 302
    assert Provision.objects.filter(agreement=agreement).count() == 1
    assert not Publication.objects.exists()


def test_a_correction_in_the_record_and_its_rows_in_one_save_is_logged_once(client, reviewer, deadline):
    client = logged_in(client, reviewer)
    agreement = deadline.agreement
    url = admin_url(type(agreement), "change", agreement.pk)
    data = form_post_data(client.get(url))
    data.update({"title": "Ceasefire statement of 9 November", "provisions-TOTAL_FORMS": "1",
                 "provisions-0-number": "1", "provisions-0-summary": "Ceasefire.", "public_note": "Two fixes."})

    assert client.post(url, data).status_code == 302

    assert corrections(agreement) == [("Two fixes.", "rita")]


# --------------------------------------------------------------------------
# Admin: deleting a citation of a published record
# --------------------------------------------------------------------------


@pytest.fixture
def citation(db):
    return factories.CitationFactory(event=factories.EventFactory(title="Shelling reported"), locator="p. 4")


def test_an_editor_deleting_a_citation_of_a_published_event_is_refused_with_a_message(client, editor, citation):
    client = logged_in(client, editor)

    response = client.post(admin_url(Citation, "delete", citation.pk), {"post": "yes"})

    assert response.status_code == 302
    assert "an editor cannot change, add or delete them" in messages_of(response)[0]
    assert Citation.objects.filter(pk=citation.pk).exists()


def test_a_reviewer_deleting_a_citation_without_a_note_is_asked_for_one(client, reviewer, citation):
    client = logged_in(client, reviewer)

    response = client.post(admin_url(Citation, "delete", citation.pk), {"post": "yes", "public_note": ""})

    assert "needs a short public note" in response.context["error"]
    assert Citation.objects.filter(pk=citation.pk).exists()


def test_a_reviewer_deleting_a_citation_with_a_note_corrects_the_event(client, reviewer, citation):
    client = logged_in(client, reviewer)

    response = client.post(admin_url(Citation, "delete", citation.pk),
                           {"post": "yes", "public_note": "The cited report did not say this."})

    assert response.status_code == 302
    assert not Citation.objects.filter(pk=citation.pk).exists()
    assert corrections(citation.event) == [("The cited report did not say this.", "rita")]
    client.logout()
    assert "The cited report did not say this." in client.get(citation.event.get_absolute_url()).content.decode()


def test_the_bulk_delete_refuses_rows_of_published_records(client, reviewer, citation):
    client = logged_in(client, reviewer)

    response = client.post(admin_url(Citation, "changelist"),
                           {"action": "delete_selected", "_selected_action": [citation.pk]})

    assert messages_of(response)[0].startswith("Nothing was deleted:")
    assert Citation.objects.filter(pk=citation.pk).exists()


def test_an_editor_deletes_a_citation_of_a_draft_freely(client, editor):
    citation = factories.CitationFactory(event__publication_status="draft")
    client = logged_in(client, editor)

    client.post(admin_url(Citation, "delete", citation.pk), {"post": "yes"})

    assert not Citation.objects.filter(pk=citation.pk).exists()
    assert not Publication.objects.exists()


def test_a_district_page_shows_the_correction_of_its_names(client, reviewer):
    district = factories.DistrictFactory(name="Kalbajar")
    client = logged_in(client, reviewer)
    url = admin_url(type(district), "change", district.pk)
    data = form_post_data(client.get(url))
    data.update({"aliases-TOTAL_FORMS": "1", "aliases-0-name": "Karvachar", "aliases-0-language": "hy-Latn",
                 "aliases-0-kind": "transliteration", "public_note": "The Armenian name was missing."})

    assert client.post(url, data).status_code == 302
    client.logout()

    page = client.get(district.get_absolute_url()).content.decode()
    assert "Corrected on <time" in page and "The Armenian name was missing." in page


# --------------------------------------------------------------------------
# API: deadline writes and the postpone action
# --------------------------------------------------------------------------


@pytest.fixture
def api_editor(editor):
    return token_client(editor)


@pytest.fixture
def api_reviewer(reviewer):
    return token_client(reviewer)


def deadline_path(deadline):
    return f"/api/v1/deadlines/{deadline.pk}/"


def test_an_editor_changing_a_deadline_of_a_published_agreement_through_the_api_is_a_403(api_editor, deadline):
    path = deadline_path(deadline)

    response = api_editor.patch(path, {"obligation": "Quietly changed"}, format="json",
                                HTTP_IF_MATCH=etag(api_editor, path))

    assert response.status_code == 403
    assert "an editor cannot change, add or delete them" in response.json()["detail"]
    deadline.refresh_from_db()
    assert deadline.obligation == "Return of the district"


def test_a_reviewer_changing_a_deadline_through_the_api_without_a_note_is_a_400_naming_it(api_reviewer, deadline):
    path = deadline_path(deadline)

    response = api_reviewer.patch(path, {"obligation": "Return of two districts"}, format="json",
                                  HTTP_IF_MATCH=etag(api_reviewer, path))

    assert response.status_code == 400
    assert "needs a short public note" in response.json()["errors"]["public_note"][0]


def test_a_reviewer_changing_a_deadline_through_the_api_with_a_note_corrects_the_agreement(api_reviewer, deadline):
    path = deadline_path(deadline)

    response = api_reviewer.patch(path, {"obligation": "Return of two districts", "public_note": NOTE},
                                  format="json", HTTP_IF_MATCH=etag(api_reviewer, path))

    assert response.status_code == 200, response.content
    assert response.json()["obligation"] == "Return of two districts"
    assert corrections(deadline.agreement) == [(NOTE, "rita")]
    assert api_reviewer.get("/api/v1/changes/").json()["results"][0]["note"] == NOTE


def test_deleting_a_deadline_of_a_published_agreement_takes_the_note_from_the_header(api_reviewer, deadline):
    path = deadline_path(deadline)

    response = api_reviewer.delete(path, HTTP_IF_MATCH=etag(api_reviewer, path), HTTP_X_PUBLIC_NOTE="Entered twice.")

    assert response.status_code == 204
    assert not Deadline.objects.filter(pk=deadline.pk).exists()
    assert corrections(deadline.agreement) == [("Entered twice.", "rita")]


def test_an_editor_changes_a_deadline_of_a_draft_agreement_through_the_api(api_editor):
    deadline = factories.DeadlineFactory(agreement__publication_status="draft")
    path = deadline_path(deadline)

    response = api_editor.patch(path, {"obligation": "Better wording"}, format="json",
                                HTTP_IF_MATCH=etag(api_editor, path))

    assert response.status_code == 200, response.content
    assert not Publication.objects.exists()


def test_moving_a_deadline_from_a_draft_to_a_published_agreement_corrects_the_published_one(api_reviewer):
    draft = factories.AgreementFactory(publication_status="draft")
    published = factories.AgreementFactory()
    deadline = factories.DeadlineFactory(agreement=draft, district__conflict=published.conflict)
    path = deadline_path(deadline)

    response = api_reviewer.patch(path, {"agreement": published.slug, "public_note": "Belongs to the other text."},
                                  format="json", HTTP_IF_MATCH=etag(api_reviewer, path))

    assert response.status_code == 200, response.content
    assert corrections(published) == [("Belongs to the other text.", "rita")]
    assert corrections(draft) == []


def postpone(api, deadline, **extra):
    body = {"to_date": "2020-11-30", "decided_on": "2020-11-14", "reason": "Roads are closed.", **extra}
    return api.post(f"{deadline_path(deadline)}postpone/", body, format="json")


def test_an_editor_postponing_a_deadline_of_a_published_agreement_is_a_403(api_editor, deadline):
    response = postpone(api_editor, deadline, public_note="Anything.")

    assert response.status_code == 403
    assert "Ask a reviewer to correct the agreement" in response.json()["detail"]
    assert not Postponement.objects.exists()


def test_a_reviewer_postponing_without_a_note_is_a_400_naming_it(api_reviewer, deadline):
    response = postpone(api_reviewer, deadline)

    assert response.status_code == 400
    assert "public note" in response.json()["errors"]["public_note"][0]
    assert not Postponement.objects.exists()


def test_a_reviewer_postponing_with_a_note_corrects_the_agreement(api_reviewer, deadline, client):
    response = postpone(api_reviewer, deadline, public_note="Postponed by the parties on 14 November.")

    assert response.status_code == 200, response.content
    assert response.json()["due_on"] == "2020-11-30"
    assert corrections(deadline.agreement) == [("Postponed by the parties on 14 November.", "rita")]
    assert Postponement.objects.get().history.latest().history_user.username == "rita"
    assert "Postponed by the parties on 14 November." in client.get(
        reverse("timeline:agreement-detail", args=[deadline.agreement.slug])).content.decode()


def test_the_postpone_note_may_come_in_the_header(api_reviewer, deadline):
    response = api_reviewer.post(f"{deadline_path(deadline)}postpone/",
                                 {"to_date": "2020-11-30", "decided_on": "2020-11-14"}, format="json",
                                 HTTP_X_PUBLIC_NOTE="Postponed.")

    assert response.status_code == 200, response.content
    assert corrections(deadline.agreement) == [("Postponed.", "rita")]


def test_an_editor_postpones_a_deadline_of_a_draft_agreement_freely(api_editor):
    deadline = factories.DeadlineFactory(agreement__publication_status="draft")

    response = postpone(api_editor, deadline)

    assert response.status_code == 200, response.content
    assert not Publication.objects.exists()


def test_a_withdrawn_agreement_keeps_its_deadlines_even_for_a_reviewer(api_reviewer, deadline):
    deadline.agreement.publication_status = "withdrawn"
    deadline.agreement.save()

    response = postpone(api_reviewer, deadline, public_note="Postponed.")

    assert response.status_code == 409
    assert "withdrawn" in response.json()["detail"]


# --------------------------------------------------------------------------
# Corrections are the reviewer's own act: published at once, attributed, not four-eyes checked
# --------------------------------------------------------------------------


def test_a_reviewer_corrects_at_once_even_a_record_they_changed_last(api_reviewer, reviewer):
    with workflow.change_context(user=reviewer):
        event = factories.EventFactory(slug="shelling", title="Shelling reported")
    path = f"/api/v1/events/{event.slug}/"

    response = api_reviewer.patch(path, {"title": "Shelling reported in Tartar", "public_note": "Place added."},
                                  format="json", HTTP_IF_MATCH=etag(api_reviewer, path))

    assert response.status_code == 200, response.content
    assert corrections(event) == [("Place added.", "rita")]


def test_a_reviewer_corrects_a_row_at_once_in_the_admin_after_changing_the_record_themselves(client, reviewer):
    with workflow.change_context(user=reviewer):
        deadline = factories.DeadlineFactory(agreement__title="Ceasefire statement")
    correct_deadline_in_admin(client, reviewer, deadline)

    assert corrections(deadline.agreement) == [(NOTE, "rita")]


def test_reverting_a_deadline_of_a_published_agreement_is_a_correction(client, reviewer, deadline):
    first = deadline.history.earliest()
    correct_deadline_in_admin(client, reviewer, deadline)
    url = admin_url(Deadline, "simple_history", deadline.pk, first.history_id)

    response = client.post(url, {**form_post_data(client.get(url)), "change_reason": "first was right",
                                 "public_note": "The first wording was right."})

    assert response.status_code == 302
    deadline.refresh_from_db()
    assert deadline.obligation == "Return of the district"
    assert corrections(deadline.agreement) == [(NOTE, "rita"), ("The first wording was right.", "rita")]


# --------------------------------------------------------------------------
# Bulk import in the admin: the same rule for the rows a file changes
# --------------------------------------------------------------------------


def agreement_file(agreement, **extra):
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    record = {"slug": agreement.slug, "conflict": agreement.conflict.slug, "kind": agreement.kind,
              "title": agreement.title, "signed_on": agreement.signed_on.isoformat(),
              "publication_status": agreement.publication_status,
              "provisions": [{"number": 9, "summary": "Prisoners are exchanged."}], **extra}
    body = {"format": "conflict-timeline", "version": 1, "agreements": [record]}
    return SimpleUploadedFile("points.json", json.dumps(body).encode(), content_type="application/json")


def test_an_editors_import_adding_a_provision_to_a_published_agreement_is_rejected_whole(client, editor):
    agreement = factories.AgreementFactory(title="Ceasefire statement")
    client = logged_in(client, editor)

    response = client.post("/admin/import/", {"file": agreement_file(agreement), "_import": "1"})

    rejected = response.context["report"].rejected
    assert any(line.startswith("provision") and "belongs to the published agreement “Ceasefire statement”" in line
               for line in rejected), rejected
    assert not Provision.objects.exists()


def test_a_reviewers_publishing_import_adding_a_provision_corrects_the_agreement(client, reviewer):
    agreement = factories.AgreementFactory(title="Ceasefire statement")
    client = logged_in(client, reviewer)

    response = client.post("/admin/import/", {"file": agreement_file(agreement), "publish": "on", "_import": "1"})

    assert response.context["report"].ok, response.context["report"].rejected
    assert Provision.objects.filter(agreement=agreement, number=9).exists()
    assert corrections(agreement) == [("Updated from the dataset file points.json.", "rita")]


def test_an_editors_import_adding_a_provision_to_a_draft_agreement_is_free(client, editor):
    agreement = factories.AgreementFactory(publication_status="draft")
    client = logged_in(client, editor)

    response = client.post("/admin/import/", {"file": agreement_file(agreement), "_import": "1"})

    assert response.context["report"].ok, response.context["report"].rejected
    assert Provision.objects.filter(agreement=agreement).count() == 1
