import datetime as dt

import pytest

from timeline import implementation, services
from timeline.models import Provision, ProvisionStatusChange
from timeline.tests import factories

pytestmark = pytest.mark.django_db

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731
DEC1 = dt.date(2020, 12, 1)


def fresh(provision):
    """The provision with every relation the rules read, as selectors prefetch it."""
    return Provision.objects.prefetch_related(
        "deadlines__postponements",
        "deadlines__handover__citations",
        "status_changes__citations",
        "status_changes__evidence_events",
        "status_changes__evidence_handovers",
        "status_changes__claimed_by",
    ).get(pk=provision.pk)


@pytest.fixture
def point_six():
    """A provision with two handovers due 15 Nov (postponed to 25 Nov) and 1 Dec."""
    provision = factories.ProvisionFactory(number=6)
    agreement = provision.agreement
    first = factories.HandoverFactory(
        deadline__agreement=agreement, deadline__provision=provision,
        deadline__original_due_on=NOV(15), deadline__due_on=NOV(15),
    )
    second = factories.HandoverFactory(
        deadline__agreement=agreement, deadline__provision=provision,
        deadline__original_due_on=DEC1, deadline__due_on=DEC1,
        from_party=first.from_party, to_party=first.to_party,
    )
    services.deadline_postpone(deadline=first.deadline, to_date=NOV(25), decided_on=NOV(15))
    services.handover_complete(handover=first, completed_on=NOV(25))
    services.handover_complete(handover=second, completed_on=DEC1)
    return provision, first, second


def test_a_deadline_as_of_a_day_has_the_due_date_decided_by_then(point_six):
    _, first, _ = point_six
    deadline = fresh(point_six[0]).deadlines.get(pk=first.deadline.pk)
    before = implementation.deadline_state(deadline, NOV(14))
    after = implementation.deadline_state(deadline, NOV(16))
    done = implementation.deadline_state(deadline, NOV(26))
    assert (before.status, before.due_on) == ("scheduled", NOV(15))
    assert (after.status, after.due_on) == ("postponed", NOV(25))
    assert (done.status, done.completed_on, done.days_late) == ("completed", NOV(25), 10)


def test_a_deadline_passed_without_completion_is_overdue_and_counts_its_days():
    deadline = factories.DeadlineFactory(original_due_on=NOV(20), due_on=NOV(20))
    state = implementation.deadline_state(deadline, NOV(23))
    assert state.overdue
    assert state.days_late == 3


def test_a_provision_moves_with_its_handovers_without_anyone_typing_it(point_six):
    provision = fresh(point_six[0])
    assert implementation.provision_state(provision, NOV(20)).status == "not_started"
    partly = implementation.provision_state(provision, NOV(26))
    assert partly.status == "partly_implemented"
    assert partly.basis.evidence_handovers == (point_six[1],)
    assert implementation.provision_state(provision, DEC1).status == "implemented"


def test_a_recorded_status_outranks_an_older_derived_one(point_six):
    provision, _, _ = point_six
    ProvisionStatusChange.objects.create(provision=provision, status="breached", from_date=dt.date(2021, 1, 5))
    state = implementation.provision_state(fresh(provision), dt.date(2021, 2, 1))
    assert state.status == "breached"
    assert [e.status for e in state.history] == ["partly_implemented", "implemented", "breached"]


def test_parties_that_disagree_make_the_provision_disputed_and_both_claims_stand():
    provision = factories.ProvisionFactory()
    one, other = factories.PartyFactory(name="One"), factories.PartyFactory(name="Other")
    ProvisionStatusChange.objects.create(provision=provision, status="implemented", from_date=NOV(1), claimed_by=one)
    ProvisionStatusChange.objects.create(provision=provision, status="breached", from_date=NOV(2), claimed_by=other)
    state = implementation.provision_state(fresh(provision), NOV(3))
    assert state.status == "disputed"
    assert [(c.claimed_by.name, c.status) for c in state.claims] == [("One", "implemented"), ("Other", "breached")]
    assert implementation.provision_state(fresh(provision), NOV(1)).status == "implemented"


def test_a_claim_that_agrees_with_the_record_is_not_a_dispute():
    provision = factories.ProvisionFactory()
    party = factories.PartyFactory()
    ProvisionStatusChange.objects.create(provision=provision, status="implemented", from_date=NOV(1))
    ProvisionStatusChange.objects.create(provision=provision, status="implemented", from_date=NOV(2), claimed_by=party)
    assert implementation.provision_state(fresh(provision), NOV(3)).status == "implemented"


def test_the_summary_reads_as_a_sentence(point_six):
    provision, _, _ = point_six
    late = factories.ProvisionFactory(agreement=provision.agreement, number=2)
    factories.DeadlineFactory(agreement=provision.agreement, provision=late, original_due_on=NOV(20), due_on=NOV(20))
    states = [implementation.provision_state(fresh(p), DEC1) for p in (provision, late)]
    summary = implementation.summarise(states)
    assert summary.sentence() == "1 of 2 provisions implemented, 1 overdue"
    assert summary.counts["implemented"] == 1
    assert summary.counts["not_started"] == 1
