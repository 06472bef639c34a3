"""Every resource's exact keys and the facts it reports."""

import pytest

from timeline import selectors

pytestmark = pytest.mark.django_db

EVENT_KEYS = {"id", "slug", "title", "summary", "body", "kind", "origin", "date", "date_precision", "end_date",
              "end_date_precision", "date_display", "is_claim", "claimed_by", "districts", "parties", "agreement",
              "handover", "sources", "url", "status", "updated_at"}
DISTRICT_KEYS = {"id", "slug", "name", "kind", "conflict", "aliases", "latitude", "longitude", "boundary", "parent",
                 "description", "controlled_by", "control_history", "url", "status", "updated_at"}
PARTY_KEYS = {"id", "slug", "name", "short_name", "kind", "description", "colour", "status", "updated_at"}
SOURCE_KEYS = {"id", "slug", "title", "kind", "publisher", "author", "published_on", "published_on_precision", "url",
               "language", "description", "status", "updated_at"}
AGREEMENT_KEYS = {"id", "slug", "title", "short_title", "kind", "conflict", "summary", "signed_on",
                  "signed_on_precision", "signed_on_display", "signed_at_place", "effective_at", "effective_timezone",
                  "signatories", "provisions", "deadlines", "discrepancies", "sources", "url", "status", "updated_at"}
DEADLINE_KEYS = {"id", "obligation", "district", "original_due_on", "due_on", "overdue", "agreement", "provision",
                 "obligated_party", "postponements", "handover", "sources", "updated_at"}
HANDOVER_KEYS = {"id", "district", "from_party", "to_party", "agreement", "deadline", "status", "original_due_on",
                 "due_on", "completed_on", "cancelled_on", "delay_days", "delay_against_current_days",
                 "postponements", "summary", "sources", "url", "publication_status", "updated_at"}

RESOURCES = [
    ("events", "war-begins", EVENT_KEYS),
    ("districts", "kalbajar", DISTRICT_KEYS),
    ("parties", "armenia", PARTY_KEYS),
    ("sources", "statement-text", SOURCE_KEYS),
    ("agreements", "trilateral-statement", AGREEMENT_KEYS),
]


def test_the_root_lists_every_collection_with_absolute_urls(anon, db):
    response = anon.get("/api/v1/")
    assert response.status_code == 200
    assert response.json() == {
        "events": "http://testserver/api/v1/events/",
        "districts": "http://testserver/api/v1/districts/",
        "parties": "http://testserver/api/v1/parties/",
        "sources": "http://testserver/api/v1/sources/",
        "agreements": "http://testserver/api/v1/agreements/",
        "deadlines": "http://testserver/api/v1/deadlines/",
        "handovers": "http://testserver/api/v1/handovers/",
        "provisions": "http://testserver/api/v1/provisions/",
        "changes": "http://testserver/api/v1/changes/",
        "schema": "http://testserver/api/v1/schema/",
        "docs": "http://testserver/api/v1/docs/",
    }


@pytest.mark.parametrize(("collection", "slug", "keys"), RESOURCES)
def test_each_record_has_exactly_the_documented_keys_in_list_and_detail(anon, world, collection, slug, keys):
    listed = anon.get(f"/api/v1/{collection}/").json()
    assert set(listed) >= {"next", "previous", "results"}
    assert all(set(row) == keys for row in listed["results"])
    detail = anon.get(f"/api/v1/{collection}/{slug}/")
    assert detail.status_code == 200
    # An agreement's detail adds the implementation summary of its provisions (see test_provisions_api.py).
    assert set(detail.json()) == (keys | {"implementation"} if collection == "agreements" else keys)


@pytest.mark.parametrize(("collection", "keys"), [("deadlines", DEADLINE_KEYS), ("handovers", HANDOVER_KEYS)])
def test_records_without_slugs_are_looked_up_by_id_with_exactly_the_documented_keys(anon, world, collection, keys):
    handover = world.handover
    pk = handover.deadline_id if collection == "deadlines" else handover.pk
    listed = anon.get(f"/api/v1/{collection}/").json()
    assert listed["count"] == 2
    assert all(set(row) == keys for row in listed["results"])
    detail = anon.get(f"/api/v1/{collection}/{pk}/").json()
    assert set(detail) == keys
    assert detail["id"] == pk


def test_an_event_names_its_related_records_as_small_objects(anon, world):
    event = anon.get("/api/v1/events/war-begins/").json()
    assert event["date"] == "1988-02-01"
    assert event["date_precision"] == "month"
    assert event["date_display"] == "February 1988"
    assert event["districts"] == [{"slug": "kalbajar", "name": "Kalbajar"}]
    assert event["parties"] == [{"slug": "armenia", "name": "Armenia"}]
    assert event["sources"] == [
        {
            "source": {"slug": "statement-text", "title": "Statement text", "publisher": "Kremlin",
                       "url": "https://example.org/statement"},
            "passage": "Fighting started.",
            "locator": "p. 1",
        }
    ]
    assert event["url"] == "http://testserver/events/war-begins/"
    assert (event["origin"], event["status"], event["is_claim"], event["claimed_by"]) == (
        "editorial", "published", False, None)


def test_a_claim_names_the_party_that_makes_it(anon, world):
    from timeline.tests import factories

    factories.EventFactory(conflict=world.conflict, slug="a-claim", claimed_by=world.baku)
    event = anon.get("/api/v1/events/a-claim/").json()
    assert (event["is_claim"], event["claimed_by"]) == (True, {"slug": "azerbaijan", "name": "Azerbaijan"})


def test_a_district_reports_aliases_location_and_control(anon, world):
    district = anon.get("/api/v1/districts/kalbajar/").json()
    assert district["aliases"] == [
        {"name": "Kəlbəcər", "language": "az", "kind": "official"},
        {"name": "Karvachar", "language": "hy-Latn", "kind": "transliteration"},
        {"name": "Кельбаджар", "language": "ru", "kind": "exonym"},
    ]
    assert (district["latitude"], district["longitude"]) == (40.1, 46.04)
    assert district["controlled_by"] == {"slug": "azerbaijan", "name": "Azerbaijan"}
    assert district["control_history"] == [
        {"party": {"slug": "azerbaijan", "name": "Azerbaijan"}, "since": "2020-11-25", "since_precision": "day",
         "until": None, "until_precision": None, "via": "handover", "via_slug": "kalbajar"}
    ]


def test_an_agreement_gives_its_effective_moment_in_its_own_time_zone(anon, world):
    agreement = anon.get("/api/v1/agreements/trilateral-statement/").json()
    assert agreement["effective_at"] == "2020-11-10T00:00:00+03:00"
    assert agreement["effective_timezone"] == "Europe/Moscow"
    assert agreement["signatories"] == [
        {"party": {"slug": "azerbaijan", "name": "Azerbaijan"}, "person": "Ilham Aliyev", "role": "President",
         "capacity": "signatory"}
    ]
    assert [(p["number"], p["summary"]) for p in agreement["provisions"]] == [(6, "Return of Kalbajar by 15 November.")]
    assert [d["obligation"] for d in agreement["deadlines"]] == ["Return of Agdam", "Return of Kalbajar"]
    assert agreement["sources"][0]["source"]["slug"] == "statement-text"


def test_a_deadline_keeps_its_original_date_and_lists_its_postponements(anon, world):
    deadline = anon.get(f"/api/v1/deadlines/{world.handover.deadline_id}/").json()
    assert (deadline["original_due_on"], deadline["due_on"], deadline["overdue"]) == ("2020-11-15", "2020-11-25", False)
    assert deadline["postponements"] == [
        {"sequence": 1, "from_date": "2020-11-15", "to_date": "2020-11-25",
         "requested_by": {"slug": "armenia", "name": "Armenia"},
         "agreed_by": [{"slug": "azerbaijan", "name": "Azerbaijan"}, {"slug": "russia", "name": "Russia"}],
         "reason": "Weather.", "decided_on": "2020-11-15", "sources": []}
    ]
    assert deadline["handover"] == {"id": world.handover.pk, "district": {"slug": "kalbajar", "name": "Kalbajar"},
                                    "status": "completed"}


def test_the_api_and_the_selectors_report_the_same_handover_facts(anon, world):
    from_selector = selectors.handover_list().get(district__slug="kalbajar")
    row = next(r for r in anon.get("/api/v1/handovers/").json()["results"] if r["district"]["slug"] == "kalbajar")
    assert (row["original_due_on"], row["due_on"], row["completed_on"], row["delay_days"]) == (
        "2020-11-15", "2020-11-25", "2020-11-25", 10)
    assert row["delay_days"] == from_selector.delay_days
    assert row["status"] == from_selector.status == "completed"
    assert row["due_on"] == from_selector.due_on.isoformat()
    assert row["original_due_on"] == from_selector.original_due_on.isoformat()
    assert row["district"] == {"slug": "kalbajar", "name": "Kalbajar"}
    assert [p["to_date"] for p in row["postponements"]] == ["2020-11-25"]


def test_a_handover_not_yet_completed_has_no_delay(anon, world):
    handover = anon.get(f"/api/v1/handovers/{world.agdam_handover.pk}/").json()
    assert (handover["status"], handover["completed_on"], handover["delay_days"]) == ("scheduled", None, None)
