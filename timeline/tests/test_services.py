import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from timeline import services
from timeline.models import Event, Handover, PublicationStatus
from timeline.tests import factories

pytestmark = pytest.mark.django_db

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


def postponed_handover():
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    requester = factories.PartyFactory(name="Requester")
    agreer = factories.PartyFactory(name="Agreer")
    services.deadline_postpone(
        deadline=handover.deadline,
        to_date=NOV(25),
        decided_on=NOV(15),
        requested_by=requester,
        agreed_by=[agreer],
        reason="Weather on the only road.",
    )
    return handover, requester, agreer


def test_postponement_keeps_the_original_date_and_moves_the_current_one():
    handover, requester, _ = postponed_handover()
    deadline = handover.deadline
    deadline.refresh_from_db()
    assert deadline.original_due_on == NOV(15)
    assert deadline.due_on == NOV(25)
    postponement = deadline.postponements.get()
    assert (postponement.sequence, postponement.from_date, postponement.to_date) == (1, NOV(15), NOV(25))
    assert postponement.requested_by == requester


def test_a_second_postponement_starts_from_the_date_the_first_left():
    handover, _, _ = postponed_handover()
    services.deadline_postpone(deadline=handover.deadline, to_date=NOV(28), decided_on=NOV(24))
    rows = list(handover.deadline.postponements.values_list("sequence", "from_date", "to_date"))
    assert rows == [(1, NOV(15), NOV(25)), (2, NOV(25), NOV(28))]
    handover.deadline.refresh_from_db()
    assert handover.deadline.due_on == NOV(28)


def test_postponing_to_the_same_date_is_refused_and_writes_nothing():
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    with pytest.raises(ValidationError):
        services.deadline_postpone(deadline=handover.deadline, to_date=NOV(15), decided_on=NOV(14))
    assert handover.deadline.postponements.count() == 0


def test_postponement_marks_the_handover_postponed():
    handover, _, _ = postponed_handover()
    handover.refresh_from_db()
    assert handover.status == Handover.Status.POSTPONED


def test_completing_a_handover_derives_status_and_delays():
    handover, _, _ = postponed_handover()
    handover = services.handover_complete(handover=handover, completed_on=NOV(25))
    assert handover.status == Handover.Status.COMPLETED
    assert handover.delay_days == 10
    assert handover.delay_against_current_days == 0


def test_derived_events_follow_deadline_postponement_and_completion():
    handover, requester, agreer = postponed_handover()
    services.handover_complete(handover=handover, completed_on=NOV(25))
    derived = {e.origin: e for e in Event.objects.exclude(origin=Event.Origin.EDITORIAL)}
    assert set(derived) == {
        Event.Origin.DEADLINE_DUE,
        Event.Origin.DEADLINE_POSTPONED,
        Event.Origin.HANDOVER_COMPLETED,
    }
    assert derived[Event.Origin.DEADLINE_DUE].date == NOV(15)
    postponed = derived[Event.Origin.DEADLINE_POSTPONED]
    assert postponed.date == NOV(15)
    assert "25 November 2020" in postponed.title
    assert "at the request of Requester" in postponed.summary
    assert set(postponed.parties.all()) == {requester, agreer}
    completed = derived[Event.Origin.HANDOVER_COMPLETED]
    assert completed.date == NOV(25)
    assert "10 days later" in completed.summary
    assert list(completed.districts.all()) == [handover.district]


def test_resyncing_changes_nothing():
    handover, _, _ = postponed_handover()
    services.handover_complete(handover=handover, completed_on=NOV(25))
    services.derived_events_sync_all()
    before = list(Event.objects.order_by("pk").values_list("pk", "version", "updated_at"))
    services.derived_events_sync_all()
    after = list(Event.objects.order_by("pk").values_list("pk", "version", "updated_at"))
    assert before == after


def test_editing_an_agreement_date_moves_its_signing_entry():
    agreement = factories.AgreementFactory(signed_on=NOV(9))
    services.derived_events_sync_agreement(agreement=agreement)
    agreement.signed_on = NOV(10)
    agreement.save()
    event = services.derived_events_sync_agreement(agreement=agreement)
    assert event.date == NOV(10)
    assert Event.objects.filter(origin=Event.Origin.AGREEMENT_SIGNED).count() == 1


def test_uncompleting_a_published_handover_withdraws_its_entry_rather_than_deleting_it():
    handover, _, _ = postponed_handover()
    services.handover_complete(handover=handover, completed_on=NOV(25))
    handover.refresh_from_db()
    handover.completed_on = None
    handover.save()
    services.handover_refresh(handover=handover)
    event = Event.objects.get(origin=Event.Origin.HANDOVER_COMPLETED)
    assert event.publication_status == PublicationStatus.WITHDRAWN


def test_derived_entries_follow_the_publication_of_their_record():
    agreement = factories.AgreementFactory(publication_status=PublicationStatus.DRAFT)
    event = services.derived_events_sync_agreement(agreement=agreement)
    assert event.publication_status == PublicationStatus.DRAFT
    assert not Event.objects.published().exists()


def test_a_derived_title_never_overflows_its_column():
    agreement = factories.AgreementFactory(title="A" * 300)
    event = services.derived_events_sync_agreement(agreement=agreement)
    assert len(event.title) == 300
    assert event.title.endswith("…")


def _derived(origin) -> Event:
    return Event.objects.get(origin=origin)


def test_derived_entries_do_not_name_a_party_that_is_not_published():
    # Derived titles and summaries are stored text, served as they are by the pages and the API.
    handover = factories.HandoverFactory(
        deadline__original_due_on=NOV(15), deadline__due_on=NOV(15),
        to_party=factories.PartyFactory(name="Secret receiver", publication_status=PublicationStatus.DRAFT),
    )
    services.deadline_postpone(
        deadline=handover.deadline, to_date=NOV(25), decided_on=NOV(15),
        requested_by=factories.PartyFactory(name="Secret requester", publication_status=PublicationStatus.IN_REVIEW),
        agreed_by=[factories.PartyFactory(name="Open agreer")],
    )
    services.handover_complete(handover=handover, completed_on=NOV(25))
    postponed, completed = _derived(Event.Origin.DEADLINE_POSTPONED), _derived(Event.Origin.HANDOVER_COMPLETED)
    written = " ".join([postponed.title, postponed.summary, completed.title, completed.summary])
    assert "Secret" not in written
    assert "at the request of a party not yet published; agreed by Open agreer." in postponed.summary
    assert completed.title.endswith("handed over to a party not yet published")


def test_publishing_or_renaming_a_party_rewrites_the_derived_entries_that_name_it():
    from timeline import workflow
    from timeline.tests.workflow_roles import user_in

    requester = factories.PartyFactory(name="Requester", publication_status=PublicationStatus.IN_REVIEW)
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15),
                                         from_party=requester)
    services.deadline_postpone(deadline=handover.deadline, to_date=NOV(25), decided_on=NOV(15), requested_by=requester)
    services.handover_complete(handover=handover, completed_on=NOV(25))
    assert "a party not yet published" in _derived(Event.Origin.DEADLINE_POSTPONED).summary

    workflow.publish(record=requester, user=user_in("Reviewers", "rita"))
    assert "at the request of Requester." in _derived(Event.Origin.DEADLINE_POSTPONED).summary
    assert " passes from Requester to " in _derived(Event.Origin.HANDOVER_COMPLETED).summary

    workflow.correct(record=requester, user=user_in("Reviewers", "rolf"), fields={"name": "Requesting party"},
                     note="The party's full name.")
    assert "at the request of Requesting party." in _derived(Event.Origin.DEADLINE_POSTPONED).summary
    assert " passes from Requesting party to " in _derived(Event.Origin.HANDOVER_COMPLETED).summary


def test_renaming_a_district_rewrites_its_handover_entry():
    from timeline.admin import derived

    handover = factories.HandoverFactory()
    services.handover_complete(handover=handover, completed_on=NOV(25))
    district = handover.district
    district.name = "New name"
    district.save()
    derived.record_saved(district)
    completed = _derived(Event.Origin.HANDOVER_COMPLETED)
    assert completed.title.startswith("New name handed over to ")
    assert completed.summary.startswith("New name passes from ")


def test_publishing_a_district_names_it_in_its_handover_entry():
    from timeline import workflow
    from timeline.tests.workflow_roles import user_in

    agreement = factories.AgreementFactory()
    district = factories.DistrictFactory(name="Riverside", conflict=agreement.conflict,
                                         publication_status=PublicationStatus.IN_REVIEW)
    handover = factories.HandoverFactory(agreement=agreement, district=district, deadline__agreement=agreement,
                                         deadline__district=district)
    services.handover_complete(handover=handover, completed_on=NOV(25))
    assert _derived(Event.Origin.HANDOVER_COMPLETED).title.startswith("A district not yet published handed over to ")
    workflow.publish(record=handover.district, user=user_in("Reviewers", "rita"))
    completed = _derived(Event.Origin.HANDOVER_COMPLETED)
    assert completed.title.startswith("Riverside handed over to ")
    assert completed.summary.startswith("Riverside passes from ")
