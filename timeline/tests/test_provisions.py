"""Provisions' implementation status on the agreement page: every status, derived and recorded steps, disputes."""

import datetime as dt

import pytest

from timeline import implementation, selectors, services
from timeline.models import ProvisionStatus, ProvisionStatusChange
from timeline.tests import factories
from timeline.tests.pages import main_text, queries_for

pytestmark = pytest.mark.django_db

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


def state(provision, day):
    fresh = selectors.provision_list().get(pk=provision.pk)
    return implementation.provision_state(fresh, day)


@pytest.fixture
def point():
    agreement = factories.AgreementFactory(slug="statement", signed_on=NOV(9))
    return factories.ProvisionFactory(agreement=agreement, number=3, summary="Peacekeepers deploy.")


@pytest.mark.parametrize("status", [s for s in ProvisionStatus.values if s != ProvisionStatus.DISPUTED])
def test_a_recorded_status_is_the_provision_status_from_its_day(point, status):
    ProvisionStatusChange.objects.create(provision=point, status=status, from_date=NOV(10))
    assert state(point, NOV(9)).status == ProvisionStatus.NOT_STARTED
    assert state(point, NOV(10)).status == status


def test_in_progress_then_implemented_keeps_both_steps_in_the_history(point):
    ProvisionStatusChange.objects.create(provision=point, status="in_progress", from_date=NOV(10))
    ProvisionStatusChange.objects.create(provision=point, status="implemented", from_date=NOV(20))
    assert [(e.status, e.from_date) for e in state(point, NOV(30)).history] == [
        ("in_progress", NOV(10)), ("implemented", NOV(20))
    ]
    assert state(point, NOV(15)).status == "in_progress"


def test_a_completed_handover_moves_its_provision_without_anyone_typing_it(point):
    first = factories.HandoverFactory(deadline__agreement=point.agreement, deadline__provision=point,
                                      deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    second = factories.HandoverFactory(deadline__agreement=point.agreement, deadline__provision=point,
                                       deadline__original_due_on=NOV(30), deadline__due_on=NOV(30),
                                       from_party=first.from_party, to_party=first.to_party)
    services.handover_complete(handover=first, completed_on=NOV(15))
    assert state(point, NOV(16)).status == "partly_implemented"
    services.handover_complete(handover=second, completed_on=NOV(29))
    final = state(point, NOV(30))
    assert final.status == "implemented"
    assert [(e.status, e.derived) for e in final.history] == [("partly_implemented", True), ("implemented", True)]


def test_a_draft_handover_moves_no_public_status(point):
    handover = factories.HandoverFactory(deadline__agreement=point.agreement, deadline__provision=point,
                                         deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    services.handover_complete(handover=handover, completed_on=NOV(15))
    handover.publication_status = "draft"
    handover.save()
    assert state(point, NOV(16)).status == "not_started"


def test_a_claim_against_the_established_status_makes_it_disputed(point):
    baku = factories.PartyFactory(name="Azerbaijan", slug="azerbaijan")
    ProvisionStatusChange.objects.create(provision=point, status="implemented", from_date=NOV(10))
    ProvisionStatusChange.objects.create(provision=point, status="breached", from_date=NOV(12), claimed_by=baku)
    disputed = state(point, NOV(13))
    assert disputed.status == "disputed"
    assert [(c.claimed_by.slug, c.status) for c in disputed.claims] == [("azerbaijan", "breached")]
    assert state(point, NOV(11)).status == "implemented"


def test_the_agreement_page_does_not_name_an_unpublished_party_behind_a_claim(client, point):
    hidden = factories.PartyFactory(name="Secret party", publication_status="draft")
    ProvisionStatusChange.objects.create(provision=point, status="implemented", from_date=NOV(10))
    ProvisionStatusChange.objects.create(provision=point, status="breached", from_date=NOV(12), claimed_by=hidden)
    text = main_text(client.get("/agreements/statement/?as_of=2020-11-20"))
    assert "Secret party" not in text
    assert "A party not yet published claims: breached since 12 November 2020" in text
    assert "12 November 2020: breached (claim by a party not yet published)" in text


def test_the_agreement_page_tables_each_provision_with_its_status_source_and_summary(client, point):
    source = factories.SourceFactory(title="Wire report", slug="wire")
    change = ProvisionStatusChange.objects.create(provision=point, status="in_progress", from_date=NOV(10),
                                                  note="Deployment began.")
    factories.CitationFactory(event=None, status_change=change, source=source, passage="Troops arrived.",
                              locator="para 2")
    factories.ProvisionFactory(agreement=point.agreement, number=1, summary="Ceasefire.")
    text = main_text(client.get("/agreements/statement/?as_of=2020-11-20"))
    assert "0 of 2 provisions implemented at the end of 20 November 2020." in text
    assert "3 Peacekeepers deploy. In progress since 10 November 2020" in text
    assert "10 November 2020: in progress. Deployment began. Wire report" in text
    assert "para 2 Troops arrived." in text
    assert "1 Ceasefire. Not started No step recorded yet." in text


def test_an_overdue_deadline_says_by_how_many_days_in_the_provisions_table(client, point):
    factories.HandoverFactory(deadline__agreement=point.agreement, deadline__provision=point,
                              deadline__obligation="Return of X", deadline__original_due_on=NOV(15),
                              deadline__due_on=NOV(15))
    text = main_text(client.get("/agreements/statement/?as_of=2020-11-18"))
    assert "Return of X: due 15 November 2020; overdue by 3 days" in text
    assert "0 of 1 provisions implemented, 1 overdue at the end of 18 November 2020." in text


def _full_provision(agreement, number):
    provision = factories.ProvisionFactory(agreement=agreement, number=number)
    change = ProvisionStatusChange.objects.create(provision=provision, status="in_progress", from_date=NOV(10))
    factories.CitationFactory(event=None, status_change=change)
    change.evidence_events.add(factories.EventFactory())
    handover = factories.HandoverFactory(deadline__agreement=agreement, deadline__provision=provision)
    change.evidence_handovers.add(handover)
    services.deadline_postpone(deadline=handover.deadline, to_date=dt.date(2021, 1, 1), decided_on=NOV(12))
    factories.CitationFactory(event=None, handover=handover)


def test_the_agreement_page_runs_the_same_number_of_queries_for_1_or_10_provisions(client, point):
    _full_provision(point.agreement, 4)
    few = queries_for(client, "/agreements/statement/")
    for number in range(5, 14):
        _full_provision(point.agreement, number)
    assert queries_for(client, "/agreements/statement/") == few
