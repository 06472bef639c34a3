"""Provisions in the API: the agreement detail's ``provisions`` and ``implementation``, and ``/provisions/``."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from timeline.models import ProvisionStatusChange
from timeline.tests import factories

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"
NOVEMBER = "/api/v1/agreements/trilateral-statement-november-2020/"


@pytest.fixture
def demo():
    call_command("import_timeline", str(DEMO), verbosity=0)


def by_number(agreement):
    return {p["number"]: p for p in agreement["provisions"]}


def test_each_provision_has_exactly_the_documented_keys(anon, demo):
    provision = by_number(anon.get(NOVEMBER).json())[6]
    assert set(provision) == {"agreement", "number", "summary", "status", "status_since", "status_sources", "claims",
                              "status_history", "deadlines", "overdue"}
    assert set(provision["status_history"][0]) == {"status", "from_date", "claimed_by", "derived", "note", "sources",
                                                   "evidence"}


def test_the_ceasefire_point_is_implemented_from_10_november_with_its_source(anon, demo):
    point = by_number(anon.get(NOVEMBER).json())[1]
    assert (point["status"], point["status_since"]) == ("implemented", "2020-11-10")
    assert [s["source"]["slug"] for s in point["status_sources"]] == ["editors-reference-chronology"]
    assert point["status_history"][0]["claimed_by"] is None


def test_point_six_is_partly_then_wholly_implemented_by_its_two_handovers(anon, demo):
    as_of_26 = by_number(anon.get(f"{NOVEMBER}?as_of=2020-11-26").json())[6]
    assert as_of_26["status"] == "partly_implemented"
    assert [(d["obligation"], d["original_due_on"], d["due_on"], d["status"], d["days_late"])
            for d in as_of_26["deadlines"]] == [
        ("Return of the Kalbajar district to Azerbaijan", "2020-11-15", "2020-11-25", "completed", 10),
        ("Return of the Lachin district to Azerbaijan", "2020-12-01", "2020-12-01", "scheduled", None),
    ]
    now = by_number(anon.get(NOVEMBER).json())[6]
    assert now["status"] == "implemented"
    assert [(e["status"], e["from_date"], e["derived"], [h["district"]["slug"] for h in e["evidence"]["handovers"]])
            for e in now["status_history"]] == [
        ("partly_implemented", "2020-11-25", True, ["kalbajar"]),
        ("implemented", "2020-12-01", True, ["lachin"]),
    ]


def test_the_implementation_summary_counts_provisions_by_status(anon, demo):
    summary = anon.get(f"{NOVEMBER}?as_of=2020-11-16").json()["implementation"]
    assert summary["total"] == 9
    assert summary["counts"]["implemented"] == 1
    assert summary["counts"]["in_progress"] == 1
    assert summary["counts"]["not_started"] == 7
    assert summary["overdue"] == 0
    assert summary["sentence"] == "1 of 9 provisions implemented"


def test_the_humanitarian_ceasefire_is_breached_with_its_evidence(anon, demo):
    point = by_number(anon.get("/api/v1/agreements/moscow-humanitarian-ceasefire-2020/").json())[1]
    assert point["status"] == "breached"
    assert [e["slug"] for e in point["status_history"][0]["evidence"]["events"]] == [
        "2020-10-fighting-continues-after-humanitarian-ceasefire"
    ]


def test_the_provision_list_filters_by_status_across_agreements(anon, demo):
    rows = anon.get("/api/v1/provisions/?status=breached&status=in_progress").json()
    assert rows["count"] == 2
    assert [(r["agreement"]["slug"], r["number"], r["status"]) for r in rows["results"]] == [
        ("moscow-humanitarian-ceasefire-2020", 1, "breached"),
        ("trilateral-statement-november-2020", 3, "in_progress"),
    ]


def test_the_provision_list_filters_overdue_as_of_a_day_with_an_honest_count(anon, demo):
    rows = anon.get("/api/v1/provisions/?overdue=true&as_of=2020-11-21&agreement=trilateral-statement-november-2020")
    assert rows.json()["count"] == 0  # Agdam was handed over on its day, Kalbajar had been postponed
    overdue = anon.get("/api/v1/provisions/?overdue=false&agreement=trilateral-statement-november-2020&page_size=4")
    body = overdue.json()
    assert body["count"] == 9 and len(body["results"]) == 4 and body["next"].endswith("page=2&page_size=4")


def test_a_claim_against_the_record_shows_as_disputed_with_the_claims(anon, demo):
    from timeline.models import Party, Provision

    provision = Provision.objects.get(agreement__slug="trilateral-statement-november-2020", number=1)
    ProvisionStatusChange.objects.create(provision=provision, status="breached", from_date="2020-11-12",
                                         claimed_by=Party.objects.get(slug="armenia"))
    point = by_number(anon.get(NOVEMBER).json())[1]
    assert point["status"] == "disputed"
    assert [(c["claimed_by"]["slug"], c["status"]) for c in point["claims"]] == [("armenia", "breached")]
    rows = anon.get("/api/v1/provisions/?status=disputed").json()["results"]
    assert [(r["agreement"]["slug"], r["number"]) for r in rows] == [("trilateral-statement-november-2020", 1)]


@pytest.mark.parametrize(("query", "field"), [("status=done", "status"), ("overdue=maybe", "overdue"),
                                              ("agreement=atlantis", "agreement")])
def test_a_bad_filter_is_a_400_naming_it(anon, demo, query, field):
    response = anon.get(f"/api/v1/provisions/?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_the_provision_list_runs_a_constant_number_of_queries(anon, demo, django_assert_num_queries):
    with CaptureQueriesContext(connection) as few:
        anon.get("/api/v1/provisions/")
    agreement = factories.AgreementFactory(slug="more")
    for number in range(1, 21):
        provision = factories.ProvisionFactory(agreement=agreement, number=number)
        change = ProvisionStatusChange.objects.create(provision=provision, status="in_progress", from_date="2021-01-01")
        factories.CitationFactory(event=None, status_change=change)
        factories.HandoverFactory(deadline__agreement=agreement, deadline__provision=provision)
    with django_assert_num_queries(len(few.captured_queries)):
        assert anon.get("/api/v1/provisions/?page_size=500").json()["count"] == 32
