"""Saving in the admin goes through the services: derived dates, statuses and timeline entries follow."""

import datetime as dt

import pytest

from timeline import models, services
from timeline.tests import factories
from timeline.tests.test_admin import NOV, admin_url, errors_in, form_post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor_client(client, superuser):
    client.force_login(superuser)
    return client


def post_from_page(client, url, **changes):
    """Open ``url``, change what ``changes`` says (None removes a value), post it back."""
    data = form_post_data(client.get(url))
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return client.post(url, data)


def add_inline_row(data: dict, prefix: str, **fields) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = value
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)


# --------------------------------------------------------------------------
# Deadlines and postponements
# --------------------------------------------------------------------------


def test_a_postponement_added_on_the_deadline_page_is_numbered_chained_and_moves_the_deadline(editor_client):
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    deadline = handover.deadline
    requester = factories.PartyFactory(name="Requesting side")
    url = admin_url(models.Deadline, "change", deadline.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "postponements", to_date="2020-11-25", decided_on="2020-11-14",
                   requested_by=str(requester.pk), reason="Weather on the only road.")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    deadline.refresh_from_db()
    assert (deadline.original_due_on, deadline.due_on) == (NOV(15), NOV(25))
    assert list(deadline.postponements.values_list("sequence", "from_date", "to_date")) == [(1, NOV(15), NOV(25))]
    handover.refresh_from_db()
    assert handover.status == models.Handover.Status.POSTPONED
    entries = models.Event.objects.filter(deadline=deadline).order_by("date")
    assert [(e.origin, e.date) for e in entries] == [
        (models.Event.Origin.DEADLINE_POSTPONED, NOV(14)),
        (models.Event.Origin.DEADLINE_DUE, NOV(15)),
    ]
    assert entries[0].title == f"Deadline postponed to 25 November 2020: {deadline.obligation}"
    assert "at the request of Requesting side" in entries[0].summary


def test_two_postponements_added_at_once_are_numbered_in_the_order_they_were_decided(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    url = admin_url(models.Deadline, "change", deadline.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "postponements", to_date="2020-11-30", decided_on="2020-11-24")
    add_inline_row(data, "postponements", to_date="2020-11-25", decided_on="2020-11-14")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    assert list(deadline.postponements.values_list("sequence", "from_date", "to_date")) == [
        (1, NOV(15), NOV(25)),
        (2, NOV(25), NOV(30)),
    ]
    deadline.refresh_from_db()
    assert deadline.due_on == NOV(30)


def test_a_postponement_added_after_earlier_ones_starts_from_the_date_they_left(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14))
    url = admin_url(models.Deadline, "change", deadline.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "postponements", to_date="2020-12-01", decided_on="2020-11-24")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    assert list(deadline.postponements.values_list("sequence", "from_date", "to_date")) == [
        (1, NOV(15), NOV(25)),
        (2, NOV(25), dt.date(2020, 12, 1)),
    ]


def test_a_postponement_to_the_date_the_deadline_already_has_is_an_error_on_that_row(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    url = admin_url(models.Deadline, "change", deadline.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "postponements", to_date="2020-11-15", decided_on="2020-11-14")

    response = editor_client.post(url, data)

    assert response.status_code == 200
    assert errors_in(response) == {
        "postponements-0-to_date": [
            "The new date is the same as the previous one (15 November 2020); a postponement must move the deadline."
        ]
    }
    assert deadline.postponements.count() == 0
    assert not models.Event.objects.filter(deadline=deadline).exists()


def test_removing_the_only_postponement_puts_the_deadline_back_on_its_original_date(editor_client):
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    deadline = handover.deadline
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14))
    url = admin_url(models.Deadline, "change", deadline.pk)

    response = post_from_page(editor_client, url, **{"postponements-0-DELETE": "on"})

    assert response.status_code == 302, errors_in(response)
    deadline.refresh_from_db()
    handover.refresh_from_db()
    assert deadline.due_on == NOV(15)
    assert handover.status == models.Handover.Status.SCHEDULED
    assert not models.Event.objects.filter(origin=models.Event.Origin.DEADLINE_POSTPONED).exists()


def test_a_postponement_added_on_its_own_page_is_numbered_and_chained_by_the_service(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14))
    url = admin_url(models.Postponement, "add")
    data = form_post_data(editor_client.get(url))
    data.update(deadline=str(deadline.pk), to_date="2020-11-28", decided_on="2020-11-24")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    assert list(deadline.postponements.values_list("sequence", "from_date", "to_date")) == [
        (1, NOV(15), NOV(25)),
        (2, NOV(25), NOV(28)),
    ]
    assert models.Event.objects.filter(origin=models.Event.Origin.DEADLINE_POSTPONED, deadline=deadline).count() == 2


def test_changing_the_original_date_of_a_deadline_on_its_agreement_page_moves_its_due_date(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    url = admin_url(models.Agreement, "change", deadline.agreement.pk)

    response = post_from_page(editor_client, url, **{"deadlines-0-original_due_on": "2020-11-20"})

    assert response.status_code == 302, errors_in(response)
    deadline.refresh_from_db()
    assert (deadline.original_due_on, deadline.due_on) == (NOV(20), NOV(20))
    assert models.Event.objects.get(origin=models.Event.Origin.DEADLINE_DUE, deadline=deadline).date == NOV(20)


def test_an_original_date_a_postponement_already_moves_to_is_refused_on_the_agreement_page(editor_client):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14))
    url = admin_url(models.Agreement, "change", deadline.agreement.pk)

    response = post_from_page(editor_client, url, **{"deadlines-0-original_due_on": "2020-11-25"})

    assert response.status_code == 200
    assert errors_in(response) == {
        "deadlines-0-original_due_on": [
            "A postponement of this deadline moves it to this very date; change that postponement first."
        ]
    }
    deadline.refresh_from_db()
    assert (deadline.original_due_on, deadline.due_on) == (NOV(15), NOV(25))


# --------------------------------------------------------------------------
# Agreements
# --------------------------------------------------------------------------


def test_saving_a_new_agreement_creates_its_signed_entry_with_its_signatories(editor_client):
    conflict = factories.ConflictFactory()
    signer = factories.PartyFactory(name="First signer")
    source = factories.SourceFactory(title="Official text")
    url = admin_url(models.Agreement, "add")
    data = form_post_data(editor_client.get(url))
    data.update(
        publication_status="published", title="Trilateral statement", slug="trilateral-statement",
        conflict=str(conflict.pk), kind="ceasefire_statement", signed_on="2020-11-09", signed_on_precision="day",
    )
    add_inline_row(data, "signatories", party=str(signer.pk), person_name="A. Person", capacity="signatory", order="0")
    add_inline_row(data, "citations", source=str(source.pk), locator="preamble", order="0")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    agreement = models.Agreement.objects.get(slug="trilateral-statement")
    entry = models.Event.objects.get(origin=models.Event.Origin.AGREEMENT_SIGNED, agreement=agreement)
    assert (entry.title, entry.date, entry.publication_status) == (
        "Trilateral statement signed", NOV(9), models.PublicationStatus.PUBLISHED,
    )
    assert list(entry.parties.all()) == [signer]
    assert list(entry.citations.values_list("source__title", "locator")) == [("Official text", "preamble")]


def test_a_deadline_added_on_the_agreement_page_gets_its_due_date_and_entry(editor_client):
    agreement = factories.AgreementFactory()
    district = factories.DistrictFactory(conflict=agreement.conflict, name="Northern district")
    url = admin_url(models.Agreement, "change", agreement.pk)
    data = form_post_data(editor_client.get(url))
    add_inline_row(data, "deadlines", obligation="Return of the northern district", district=str(district.pk),
                   original_due_on="2020-11-15")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    deadline = agreement.deadlines.get()
    assert deadline.due_on == NOV(15)
    assert models.Event.objects.filter(origin=models.Event.Origin.DEADLINE_DUE, deadline=deadline).count() == 1
    signed = models.Event.objects.get(origin=models.Event.Origin.AGREEMENT_SIGNED, agreement=agreement)
    assert list(signed.districts.all()) == [district]


def test_withdrawing_an_agreement_withdraws_its_derived_entries_too(editor_client):
    deadline = factories.DeadlineFactory()
    services.derived_events_sync_all()
    url = admin_url(models.Agreement, "change", deadline.agreement.pk)

    response = post_from_page(editor_client, url, publication_status="withdrawn")

    assert response.status_code == 302, errors_in(response)
    statuses = set(models.Event.objects.filter(agreement=deadline.agreement).values_list("publication_status", flat=True))
    assert statuses == {models.PublicationStatus.WITHDRAWN}


def test_deleting_a_published_agreement_withdraws_it_and_its_signed_entry(editor_client):
    agreement = factories.AgreementFactory()
    entry = services.derived_events_sync_agreement(agreement=agreement)

    response = editor_client.post(admin_url(models.Agreement, "delete", agreement.pk),
                                  {"post": "yes", "public_note": "Signed by officials without a mandate."})

    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.publication_status == models.PublicationStatus.WITHDRAWN
    entry.refresh_from_db()
    assert entry.publication_status == models.PublicationStatus.WITHDRAWN


def test_deleting_a_draft_agreement_deletes_it_and_its_signed_entry(editor_client):
    agreement = factories.AgreementFactory(publication_status=models.PublicationStatus.DRAFT)
    services.derived_events_sync_agreement(agreement=agreement)

    response = editor_client.post(admin_url(models.Agreement, "delete", agreement.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not models.Agreement.objects.filter(pk=agreement.pk).exists()
    assert not models.Event.objects.filter(agreement_id=agreement.pk).exists()


# --------------------------------------------------------------------------
# Handovers
# --------------------------------------------------------------------------


def test_completing_a_handover_sets_its_status_and_creates_its_entry(editor_client):
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    url = admin_url(models.Handover, "change", handover.pk)

    response = post_from_page(editor_client, url, completed_on="2020-11-25")

    assert response.status_code == 302, errors_in(response)
    handover.refresh_from_db()
    assert handover.status == models.Handover.Status.COMPLETED
    entry = models.Event.objects.get(origin=models.Event.Origin.HANDOVER_COMPLETED, handover=handover)
    assert entry.date == NOV(25)
    assert "10 days later" in entry.summary


def test_undoing_a_completion_removes_the_unpublished_entry(editor_client):
    handover = factories.HandoverFactory(publication_status=models.PublicationStatus.DRAFT)
    services.handover_complete(handover=handover, completed_on=NOV(25))
    url = admin_url(models.Handover, "change", handover.pk)

    response = post_from_page(editor_client, url, completed_on=None)

    assert response.status_code == 302, errors_in(response)
    handover.refresh_from_db()
    assert handover.status == models.Handover.Status.SCHEDULED
    assert not models.Event.objects.filter(handover=handover).exists()


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def test_an_editorial_event_is_added_with_its_citation_and_a_slug_from_its_date_and_title(editor_client):
    conflict = factories.ConflictFactory()
    source = factories.SourceFactory()
    url = admin_url(models.Event, "add")
    data = form_post_data(editor_client.get(url))
    data.update(
        publication_status="draft", title="Army enters the district", conflict=str(conflict.pk),
        kind="military", date="2020-11-25", date_precision="day", summary="Columns entered at dawn.",
    )
    add_inline_row(data, "citations", source=str(source.pk), passage="Troops entered.", order="0")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    event = models.Event.objects.get(title="Army enters the district")
    assert (event.slug, event.origin, event.span_end) == (
        "2020-11-25-army-enters-the-district", models.Event.Origin.EDITORIAL, NOV(25),
    )
    assert list(event.citations.values_list("source_id", "passage")) == [(source.pk, "Troops entered.")]


def test_a_derived_event_is_shown_read_only_with_a_pointer_to_its_record(editor_client):
    agreement = factories.AgreementFactory(title="Trilateral statement")
    entry = services.derived_events_sync_agreement(agreement=agreement)
    url = admin_url(models.Event, "change", entry.pk)

    response = editor_client.get(url)

    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="title"' not in content
    assert 'name="date"' not in content
    assert "This entry is derived from its agreement" in content
    assert admin_url(models.Agreement, "change", agreement.pk) in content


def test_a_derived_event_cannot_be_changed_by_posting_to_it(editor_client):
    agreement = factories.AgreementFactory(title="Trilateral statement")
    entry = services.derived_events_sync_agreement(agreement=agreement)

    response = editor_client.post(
        admin_url(models.Event, "change", entry.pk),
        {"title": "Rewritten", "date": "2020-01-01", "date_precision": "day", "summary": "x", "kind": "other"},
    )

    assert response.status_code == 403
    entry.refresh_from_db()
    assert (entry.title, entry.date) == ("Trilateral statement signed", NOV(9))


def test_a_derived_event_cannot_be_deleted(editor_client):
    entry = services.derived_events_sync_agreement(agreement=factories.AgreementFactory())

    response = editor_client.post(admin_url(models.Event, "delete", entry.pk), {"post": "yes"})

    assert response.status_code == 403
    assert models.Event.objects.filter(pk=entry.pk).exists()


# --------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------


def test_the_history_page_says_who_changed_what(editor_client, superuser):
    party = factories.PartyFactory(name="Old name", slug="old-name")
    url = admin_url(models.Party, "change", party.pk)
    post_from_page(editor_client, url, name="New name")

    response = editor_client.get(admin_url(models.Party, "history", party.pk))

    content = response.content.decode()
    assert superuser.username in content
    assert "Old name" in content and "New name" in content


def test_reverting_a_handover_from_its_history_re_derives_its_status_and_entry(editor_client):
    handover = factories.HandoverFactory(publication_status=models.PublicationStatus.DRAFT)
    first_version = handover.history.earliest()
    services.handover_complete(handover=handover, completed_on=NOV(25))
    url = admin_url(models.Handover, "simple_history", handover.pk, first_version.history_id)

    response = post_from_page(editor_client, url, change_reason="The completion was entered by mistake.")

    assert response.status_code == 302
    handover.refresh_from_db()
    assert (handover.completed_on, handover.status) == (None, models.Handover.Status.SCHEDULED)
    assert not models.Event.objects.filter(handover=handover).exists()


def test_a_new_deadline_posted_with_a_postponement_is_saved_postponed(editor_client):
    agreement = factories.AgreementFactory()
    url = admin_url(models.Deadline, "add")
    data = form_post_data(editor_client.get(url))
    data.update(agreement=str(agreement.pk), obligation="Withdrawal of forces", original_due_on="2020-11-15")
    add_inline_row(data, "postponements", to_date="2020-11-25", decided_on="2020-11-14")

    response = editor_client.post(url, data)

    assert response.status_code == 302, errors_in(response)
    deadline = agreement.deadlines.get()
    assert (deadline.original_due_on, deadline.due_on) == (NOV(15), NOV(25))
    assert list(deadline.postponements.values_list("sequence", "from_date", "to_date")) == [(1, NOV(15), NOV(25))]
    assert sorted(models.Event.objects.filter(deadline=deadline).values_list("origin", flat=True)) == [
        models.Event.Origin.DEADLINE_DUE, models.Event.Origin.DEADLINE_POSTPONED,
    ]


def test_deleting_a_postponed_deadline_on_its_agreement_page_reschedules_its_handover(editor_client):
    handover = factories.HandoverFactory()
    services.deadline_postpone(deadline=handover.deadline, to_date=NOV(25), decided_on=NOV(14))
    url = admin_url(models.Agreement, "change", handover.agreement.pk)

    response = post_from_page(editor_client, url, **{"deadlines-0-DELETE": "on"})

    assert response.status_code == 302, errors_in(response)
    handover.refresh_from_db()
    assert (handover.deadline, handover.status) == (None, models.Handover.Status.SCHEDULED)


def test_a_citation_moved_to_another_record_leaves_the_first_records_entry(editor_client):
    first, second = factories.AgreementFactory(), factories.AgreementFactory()
    citation = factories.CitationFactory(event=None, agreement=first)
    services.derived_events_sync_agreement(agreement=first)
    services.derived_events_sync_agreement(agreement=second)
    url = admin_url(models.Citation, "change", citation.pk)

    response = post_from_page(editor_client, url, agreement=str(second.pk))

    assert response.status_code == 302, errors_in(response)
    signed = {e.agreement_id: e for e in models.Event.objects.filter(origin=models.Event.Origin.AGREEMENT_SIGNED)}
    assert signed[first.pk].citations.count() == 0
    assert list(signed[second.pk].citations.values_list("source_id", flat=True)) == [citation.source_id]


def test_deleting_events_in_bulk_is_refused_when_a_derived_one_is_among_them(editor_client):
    editorial = factories.EventFactory()
    derived_entry = services.derived_events_sync_agreement(agreement=factories.AgreementFactory())
    url = admin_url(models.Event, "changelist")
    selection = {"action": "delete_selected", "_selected_action": [editorial.pk, derived_entry.pk]}

    response = editor_client.post(url, {**selection, "post": "yes"}, follow=True)

    # Both were published: readers have seen them, so neither is deleted.
    assert "Nothing was deleted: readers have seen" in response.content.decode()
    assert models.Event.objects.count() == 2


def test_deleting_a_derived_draft_event_in_bulk_is_refused(editor_client):
    editorial = factories.EventFactory(publication_status=models.PublicationStatus.DRAFT)
    agreement = factories.AgreementFactory(publication_status=models.PublicationStatus.DRAFT)
    derived_entry = services.derived_events_sync_agreement(agreement=agreement)
    url = admin_url(models.Event, "changelist")
    selection = {"action": "delete_selected", "_selected_action": [editorial.pk, derived_entry.pk]}

    confirmation = editor_client.post(url, selection)
    response = editor_client.post(url, {**selection, "post": "yes"})

    assert "your account doesn't have permission to delete the following types of objects" in (
        confirmation.content.decode().replace("&#x27;", "'")
    )
    assert response.status_code == 403
    assert models.Event.objects.count() == 2
