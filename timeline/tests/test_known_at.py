"""The published record at a moment (``?known_at=``) and the X-Record-Time header."""

import datetime as dt
import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from timeline import services, workflow
from timeline.models import (
    Agreement,
    Conflict,
    Deadline,
    District,
    ProvisionStatus,
    ProvisionStatusChange,
    PublicationStatus,
)
from timeline.tests import factories
from timeline.tests.api.conftest import build_world
from timeline.tests.api.test_query_counts import grow
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def reviewer(db):
    return user_in("Reviewers", "rita")


def moment() -> str:
    """Now, as a client pins it; the next change happens strictly later."""
    now = timezone.now()
    time.sleep(0.002)
    return now.isoformat().replace("+00:00", "Z")


def test_an_event_corrected_since_shows_its_old_text(api, reviewer):
    district = factories.DistrictFactory(slug="hillside", name="Hillside")
    event = factories.EventFactory(slug="road", title="Wrong town", districts=[district])
    before = moment()
    workflow.correct(record=event, user=reviewer, fields={"title": "Right town"}, note="Misnamed.")
    old = api.get("/api/v1/events/road/", {"known_at": before}).json()
    assert (old["title"], [d["slug"] for d in old["districts"]]) == ("Wrong town", ["hillside"])
    assert api.get("/api/v1/events/road/").json()["title"] == "Right town"
    listed = api.get("/api/v1/events/", {"known_at": before}).json()["results"]
    assert [e["title"] for e in listed] == ["Wrong town"]


def test_an_event_withdrawn_since_is_present_and_one_published_later_is_absent(api, reviewer):
    withdrawn = factories.EventFactory(slug="forged", title="Forged", date=dt.date(2020, 11, 1))
    before = moment()
    workflow.withdraw(record=withdrawn, user=reviewer, note="Forged document.")
    factories.EventFactory(slug="later", title="Later", date=dt.date(2020, 11, 2))
    then = [e["slug"] for e in api.get("/api/v1/events/", {"known_at": before}).json()["results"]]
    now = [e["slug"] for e in api.get("/api/v1/events/").json()["results"]]
    assert then == ["forged"]
    assert now == ["later"]
    assert api.get("/api/v1/events/later/", {"known_at": before}).status_code == 404


def test_the_districts_of_an_event_are_those_it_had_at_that_moment(api):
    first = factories.DistrictFactory(slug="first", name="First")
    second = factories.DistrictFactory(slug="second", name="Second")
    event = factories.EventFactory(slug="moving", districts=[first])
    before = moment()
    event.districts.set([second])
    event.save()  # the m2m history is taken with the next historical row
    assert [d["slug"] for d in api.get("/api/v1/events/moving/", {"known_at": before}).json()["districts"]] == ["first"]
    assert [d["slug"] for d in api.get("/api/v1/events/moving/").json()["districts"]] == ["second"]


def test_every_answer_carries_the_record_time_it_reflects(api):
    factories.EventFactory(slug="one")
    pinned = "2020-11-26T12:00:00.000000Z"
    live = api.get("/api/v1/events/")
    stamp = dt.datetime.fromisoformat(live["X-Record-Time"].replace("Z", "+00:00"))
    assert abs((timezone.now() - stamp).total_seconds()) < 60
    assert api.get("/api/v1/events/", {"known_at": "2020-11-26T12:00:00Z"})["X-Record-Time"] == pinned
    assert "X-Record-Time" in api.get("/api/v1/districts/?as_of=nonsense")  # errors too
    assert api.get("/api/v1/provisions/").has_header("X-Record-Time")


@pytest.mark.parametrize("value", ["yesterday", "2020-11-26", "2020-11-26T12:00:00", "2999-01-01T00:00:00Z"])
def test_a_bad_known_at_is_a_400_naming_it(api, value):
    response = api.get("/api/v1/events/", {"known_at": value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["known_at"]


def test_known_at_with_an_offset_the_database_cannot_hold_is_read_in_utc(api):
    """ISO 8601 allows offsets to 23:59, PostgreSQL to 15:59 (found by schemathesis: a 500)."""
    response = api.get("/api/v1/agreements/", {"known_at": "2020-11-26T22:59:31+17:38"})
    assert response.status_code == 200
    assert response["X-Record-Time"] == "2020-11-26T05:21:31.000000Z"


def test_known_at_at_the_edge_of_the_calendar_is_a_400_not_a_500(api):
    response = api.get("/api/v1/events/", {"known_at": "0001-01-01T00:00:00+05:00"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["known_at"]


def test_known_at_with_a_filter_it_does_not_take_is_a_400_naming_the_filter(api):
    response = api.get("/api/v1/events/", {"known_at": "2020-11-26T12:00:00Z", "q": "road"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"q": ["q cannot be combined with known_at."]}


def test_known_at_runs_a_constant_number_of_queries(api, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def world(n):
        district = factories.DistrictFactory()
        party = factories.PartyFactory()
        for _ in range(n):
            event = factories.EventFactory(districts=[district], parties=[party], claimed_by=party)
            factories.CitationFactory(event=event)

    world(2)
    at = moment()
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/events/", {"known_at": at})
    world(20)
    at = moment()
    with django_assert_num_queries(len(few.captured_queries)):
        assert api.get("/api/v1/events/", {"known_at": at}).json()["count"] == 22


# --------------------------------------------------------------------------
# Every resource, as published at a moment
# --------------------------------------------------------------------------

NOV = lambda day: dt.date(2020, 11, day)  # noqa: E731


def slugs(response) -> list:
    assert response.status_code == 200, response.content
    return [row.get("slug", row.get("id")) for row in response.json()["results"]]


@pytest.mark.parametrize(("factory", "path", "field", "new"), [
    (factories.DistrictFactory, "districts", "name", "Kalbajar"),
    (factories.PartyFactory, "parties", "name", "Armenia"),
    (factories.SourceFactory, "sources", "title", "The official text"),
    (factories.AgreementFactory, "agreements", "title", "Trilateral statement"),
])
def test_a_record_corrected_since_shows_its_old_text(api, reviewer, factory, path, field, new):
    record = factory(slug="it", **{field: "Old words"})
    before = moment()
    workflow.correct(record=record, user=reviewer, fields={field: new}, note="Misnamed.")
    assert api.get(f"/api/v1/{path}/it/", {"known_at": before}).json()[field] == "Old words"
    assert [r[field] for r in api.get(f"/api/v1/{path}/", {"known_at": before}).json()["results"]] == ["Old words"]
    assert api.get(f"/api/v1/{path}/it/").json()[field] == new


@pytest.mark.parametrize(("factory", "path"), [
    (factories.DistrictFactory, "districts"),
    (factories.PartyFactory, "parties"),
    (factories.SourceFactory, "sources"),
    (factories.AgreementFactory, "agreements"),
])
def test_a_record_withdrawn_since_is_present_and_one_published_later_is_absent(api, reviewer, factory, path):
    withdrawn = factory(slug="forged")
    before = moment()
    workflow.withdraw(record=withdrawn, user=reviewer, note="Forged document.")
    factory(slug="later")
    assert slugs(api.get(f"/api/v1/{path}/", {"known_at": before})) == ["forged"]
    assert slugs(api.get(f"/api/v1/{path}/")) == ["later"]
    assert api.get(f"/api/v1/{path}/forged/", {"known_at": before}).status_code == 200
    assert api.get(f"/api/v1/{path}/later/", {"known_at": before}).status_code == 404


def test_a_handover_corrected_withdrawn_or_published_later_reads_as_it_was(api, reviewer):
    corrected = factories.HandoverFactory(summary="Old summary")
    withdrawn = factories.HandoverFactory()
    before = moment()
    workflow.correct(record=corrected, user=reviewer, fields={"summary": "New summary"}, note="Typo.")
    workflow.withdraw(record=withdrawn, user=reviewer, note="Never agreed.")
    later = factories.HandoverFactory()
    then = api.get("/api/v1/handovers/", {"known_at": before}).json()["results"]
    assert {h["id"]: h["summary"] for h in then} == {corrected.pk: "Old summary", withdrawn.pk: ""}
    assert api.get(f"/api/v1/handovers/{later.pk}/", {"known_at": before}).status_code == 404
    assert api.get(f"/api/v1/handovers/{withdrawn.pk}/", {"known_at": before}).status_code == 200


def test_a_deadline_postponed_since_shows_its_old_due_date(api):
    handover = factories.HandoverFactory(deadline__original_due_on=NOV(15), deadline__due_on=NOV(15))
    deadline = handover.deadline
    before = moment()
    services.deadline_postpone(deadline=deadline, to_date=NOV(25), decided_on=NOV(14), reason="Weather.")
    then = api.get(f"/api/v1/deadlines/{deadline.pk}/", {"known_at": before}).json()
    assert (then["due_on"], then["postponements"]) == ("2020-11-15", [])
    now = api.get(f"/api/v1/deadlines/{deadline.pk}/").json()
    assert (now["due_on"], len(now["postponements"])) == ("2020-11-25", 1)
    listed = api.get("/api/v1/deadlines/", {"known_at": before}).json()["results"]
    assert [d["due_on"] for d in listed] == ["2020-11-15"]
    handover_then = api.get(f"/api/v1/handovers/{handover.pk}/", {"known_at": before}).json()
    assert (handover_then["status"], handover_then["due_on"], handover_then["postponements"]) == (
        "scheduled", "2020-11-15", [])


def test_a_deadline_is_public_at_a_moment_when_its_agreement_was(api, reviewer):
    withdrawn = factories.DeadlineFactory(agreement__slug="withdrawn-since")
    before = moment()
    workflow.withdraw(record=withdrawn.agreement, user=reviewer, note="Never signed.")
    later = factories.DeadlineFactory(agreement__slug="published-later")
    assert slugs(api.get("/api/v1/deadlines/", {"known_at": before})) == [withdrawn.pk]
    assert slugs(api.get("/api/v1/deadlines/")) == [later.pk]
    assert api.get(f"/api/v1/deadlines/{later.pk}/", {"known_at": before}).status_code == 404


def test_an_agreement_shows_its_signatories_provisions_and_deadlines_as_they_were(api):
    agreement = factories.AgreementFactory(slug="statement")
    first = factories.SignatoryFactory(agreement=agreement, person_name="First signer")
    provision = factories.ProvisionFactory(agreement=agreement, number=1, summary="Old point")
    factories.DeadlineFactory(agreement=agreement, provision=provision, obligation="Return of the district")
    before = moment()
    factories.SignatoryFactory(agreement=agreement, person_name="Signed later")
    first.delete()
    provision.summary = "New point"
    provision.save()
    factories.DeadlineFactory(agreement=agreement, obligation="Added later")
    for path in ("/api/v1/agreements/statement/", "/api/v1/agreements/"):
        then = api.get(path, {"known_at": before}).json()
        then = then["results"][0] if "results" in then else then
        assert [s["person"] for s in then["signatories"]] == ["First signer"]
        assert [p["summary"] for p in then["provisions"]] == ["Old point"]
        assert [d["obligation"] for d in then["deadlines"]] == ["Return of the district"]


def test_an_agreement_gives_its_provisions_status_history_as_of_that_moment(api):
    provision = factories.ProvisionFactory(agreement__slug="statement", number=1)
    ProvisionStatusChange.objects.create(provision=provision, status=ProvisionStatus.IN_PROGRESS, from_date=NOV(10))
    before = moment()
    ProvisionStatusChange.objects.create(provision=provision, status=ProvisionStatus.IMPLEMENTED, from_date=NOV(12))
    then = api.get("/api/v1/agreements/statement/", {"known_at": before}).json()
    point = then["provisions"][0]
    assert (point["status"], [e["status"] for e in point["status_history"]]) == ("in_progress", ["in_progress"])
    assert then["implementation"]["counts"]["implemented"] == 0
    now = api.get("/api/v1/agreements/statement/").json()["provisions"][0]
    assert [e["status"] for e in now["status_history"]] == ["in_progress", "implemented"]
    listed = api.get("/api/v1/provisions/", {"known_at": before}).json()["results"]
    assert [(p["number"], p["status"]) for p in listed] == [(1, "in_progress")]
    assert api.get("/api/v1/provisions/", {"known_at": before, "status": "implemented"}).json()["count"] == 0


def test_the_evidence_of_a_recorded_status_is_null_at_a_moment_as_its_links_have_no_history(api):
    provision = factories.ProvisionFactory(agreement__slug="statement", number=1)
    change = ProvisionStatusChange.objects.create(provision=provision, status="in_progress", from_date=NOV(10))
    change.evidence_events.add(factories.EventFactory())
    before = moment()
    then = api.get("/api/v1/agreements/statement/", {"known_at": before}).json()
    assert then["provisions"][0]["status_history"][0]["evidence"] is None
    now = api.get("/api/v1/agreements/statement/").json()
    assert len(now["provisions"][0]["status_history"][0]["evidence"]["events"]) == 1


def test_a_provision_is_listed_at_a_moment_only_if_its_agreement_was_published_then(api, reviewer):
    withdrawn = factories.ProvisionFactory(agreement__slug="withdrawn-since", number=1)
    before = moment()
    workflow.withdraw(record=withdrawn.agreement, user=reviewer, note="Never signed.")
    factories.ProvisionFactory(agreement__slug="published-later", number=1)
    then = api.get("/api/v1/provisions/", {"known_at": before}).json()["results"]
    assert [p["agreement"]["slug"] for p in then] == ["withdrawn-since"]
    assert [p["agreement"]["slug"] for p in api.get("/api/v1/provisions/").json()["results"]] == ["published-later"]


def test_a_district_has_its_aliases_and_control_as_they_were(api, reviewer):
    district = factories.DistrictFactory(slug="hillside")
    factories.DistrictAliasFactory(district=district, name="Old alias")
    handover = factories.HandoverFactory(deadline__agreement__conflict=district.conflict, deadline__district=district)
    before = moment()
    factories.DistrictAliasFactory(district=district, name="New alias")
    services.handover_complete(handover=handover, completed_on=NOV(25))
    then = api.get("/api/v1/districts/hillside/", {"known_at": before}).json()
    assert ([a["name"] for a in then["aliases"]], then["controlled_by"]) == (["Old alias"], None)
    now = api.get("/api/v1/districts/hillside/").json()
    assert (len(now["aliases"]), now["controlled_by"]["slug"]) == (2, handover.to_party.slug)


def test_linked_records_appear_as_they_were_then(api, reviewer):
    party = factories.PartyFactory(slug="claimant", name="Old name")
    factories.EventFactory(slug="claim", claimed_by=party)
    before = moment()
    workflow.correct(record=party, user=reviewer, fields={"name": "New name"}, note="Renamed.")
    assert api.get("/api/v1/events/claim/", {"known_at": before}).json()["claimed_by"]["name"] == "Old name"
    assert api.get("/api/v1/events/claim/").json()["claimed_by"]["name"] == "New name"


def test_a_linked_record_not_yet_published_then_is_left_out(api, reviewer):
    draft = factories.PartyFactory(slug="draft-party", publication_status=PublicationStatus.DRAFT)
    factories.EventFactory(slug="claim", parties=[draft])
    before = moment()
    draft.publication_status = PublicationStatus.PUBLISHED
    draft.save()
    assert api.get("/api/v1/events/claim/", {"known_at": before}).json()["parties"] == []
    assert [p["slug"] for p in api.get("/api/v1/events/claim/").json()["parties"]] == ["draft-party"]


def test_overdue_is_decided_against_the_day_of_the_moment(api):
    deadline = factories.DeadlineFactory(original_due_on=NOV(15), due_on=NOV(15))
    # Backdate the whole record to 10 November 2020, five days before the deadline was due.
    for model in (Agreement, Conflict, Deadline, District):
        model.history.model.objects.update(history_date=dt.datetime(2020, 11, 10, tzinfo=dt.UTC))
    then = api.get(f"/api/v1/deadlines/{deadline.pk}/", {"known_at": "2020-11-12T00:00:00Z"}).json()
    assert then["overdue"] is False
    assert api.get(f"/api/v1/deadlines/{deadline.pk}/").json()["overdue"] is True


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("districts", {"kind": "town"}, ["town"]),
    ("parties", {"kind": "mediator"}, ["mediator"]),
    ("agreements", {"kind": "memorandum"}, ["memorandum"]),
])
def test_a_list_takes_its_documented_filters_with_known_at(api, path, params, expected):
    factory = {"districts": factories.DistrictFactory, "parties": factories.PartyFactory,
               "agreements": factories.AgreementFactory}[path]
    factory(slug="wanted", kind=expected[0])
    factory(slug="other")
    assert slugs(api.get(f"/api/v1/{path}/", {"known_at": moment(), **params})) == ["wanted"]


@pytest.mark.parametrize(("path", "name", "value"), [
    ("districts", "q", "hill"),
    ("deadlines", "overdue", "true"),
    ("handovers", "district", "hillside"),
    ("provisions", "agreement", "statement"),
])
def test_a_filter_a_list_does_not_take_with_known_at_is_a_400_naming_it(api, path, name, value):
    response = api.get(f"/api/v1/{path}/", {"known_at": "2020-11-26T12:00:00Z", name: value})
    assert response.status_code == 400
    assert response.json()["errors"] == {name: [f"{name} cannot be combined with known_at."]}


def test_a_malformed_filter_with_known_at_is_a_400_naming_it(api):
    response = api.get("/api/v1/districts/", {"known_at": "2020-11-26T12:00:00Z", "kind": "planet"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["kind"]


def test_a_malformed_known_at_on_a_detail_or_the_provisions_is_a_400_naming_it(api):
    factories.PartyFactory(slug="it")
    for path in ("/api/v1/parties/it/", "/api/v1/provisions/"):
        response = api.get(path, {"known_at": "yesterday"})
        assert (response.status_code, list(response.json()["errors"])) == (400, ["known_at"])


def without_evidence(data):
    """``data`` less the ``evidence`` of status entries (null at a moment: its links have no history)."""
    if isinstance(data, dict):
        return {key: without_evidence(value) for key, value in data.items() if key != "evidence"}
    if isinstance(data, list):
        return [without_evidence(value) for value in data]
    return data


def assert_known_at_now_answers_as_the_live_api(api):
    at = moment()
    for path in LISTS:
        live = api.get(f"/api/v1/{path}/", {"page_size": 500}).json()["results"]
        then = api.get(f"/api/v1/{path}/", {"known_at": at, "page_size": 500}).json()["results"]
        assert without_evidence(then) == without_evidence(live), path
        key = "slug" if path not in ("deadlines", "handovers") else "id"
        for row in live if path != "provisions" else []:
            detail = api.get(f"/api/v1/{path}/{row[key]}/").json()
            assert without_evidence(api.get(f"/api/v1/{path}/{row[key]}/", {"known_at": at}).json()) == (
                without_evidence(detail)), (path, row[key])


def test_known_at_a_moment_ago_answers_what_the_live_api_answers(api):
    build_world()
    assert_known_at_now_answers_as_the_live_api(api)


def test_an_imported_dataset_has_its_links_and_citations_at_a_moment_after_the_import(api):
    call_command("import_timeline", str(Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"),
                 stdout=io.StringIO())
    assert_known_at_now_answers_as_the_live_api(api)


# --------------------------------------------------------------------------
# X-Record-Time on every answer
# --------------------------------------------------------------------------


def stamped(response) -> dt.datetime:
    return dt.datetime.fromisoformat(response["X-Record-Time"].replace("Z", "+00:00"))


@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/api/v1/no-such-collection/", 404),
    ("get", "/api/v1/parties/no-such-party/", 404),
    ("put", "/api/v1/provisions/", 405),
    ("post", "/api/v1/auth/token/", 400),
    ("get", "/api/v1/schema/", 200),
    ("get", "/api/v1/", 200),
])
def test_every_api_answer_says_the_record_time_it_reflects(api, method, path, status):
    before = timezone.now()
    response = getattr(api, method)(path)
    assert response.status_code == status
    assert before <= stamped(response) <= timezone.now()


def test_pages_outside_the_api_carry_no_record_time(client):
    assert not client.get("/robots.txt").has_header("X-Record-Time")


# --------------------------------------------------------------------------
# Queries and the schema
# --------------------------------------------------------------------------

LISTS = ["events", "districts", "parties", "sources", "agreements", "deadlines", "handovers", "provisions"]


def test_known_at_runs_the_same_number_of_queries_for_3_or_30_rows_on_every_list(api, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    world = build_world()
    grow(world.conflict, 3)
    at, counts = moment(), {}
    for path in LISTS:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"/api/v1/{path}/", {"known_at": at, "page_size": 500}).status_code == 200
        counts[path] = len(queries.captured_queries)
    grow(world.conflict, 27)
    at = moment()
    for path in LISTS:
        with django_assert_num_queries(counts[path]):
            response = api.get(f"/api/v1/{path}/", {"known_at": at, "page_size": 500})
        assert response.json()["count"] >= 30
    detail = api.get("/api/v1/agreements/trilateral-statement/", {"known_at": at}).json()
    assert detail["provisions"][0]["status_history"] == []


def test_the_schema_documents_known_at_on_every_read_that_takes_it(api):
    paths = api.get("/api/v1/schema/?format=json").json()["paths"]
    for collection in LISTS:
        reads = [path for path in paths if path.startswith(f"/api/v1/{collection}/") and "postpone" not in path]
        assert reads, collection
        for path in reads:
            parameters = {p["name"]: p for p in paths[path]["get"]["parameters"]}
            assert parameters["known_at"]["schema"] == {"type": "string", "format": "date-time"}, path
            assert "X-Record-Time" in parameters["known_at"]["description"]
    listed = {p["name"]: p for p in paths["/api/v1/deadlines/"]["get"]["parameters"]}
    assert "takes as_of only" in listed["known_at"]["description"]
    listed = {p["name"]: p for p in paths["/api/v1/events/"]["get"]["parameters"]}
    assert "takes as_of, date_from, date_to, kind only" in listed["known_at"]["description"]


@pytest.mark.parametrize(("path", "fmt", "content_type"), [
    ("districts", "geojson", "application/geo+json"),
    ("districts", "csv", "text/csv"),
    ("handovers", "csv", "text/csv"),
])
def test_a_list_at_a_moment_comes_in_its_other_formats_too(api, path, fmt, content_type):
    factories.HandoverFactory(deadline__district__slug="hillside")
    response = api.get(f"/api/v1/{path}/", {"known_at": moment(), "format": fmt})
    assert (response.status_code, response["Content-Type"].split(";")[0]) == (200, content_type)
    assert "hillside" in response.content.decode()


@pytest.mark.parametrize("authenticated", [False, True])
def test_a_304_to_a_read_at_a_moment_says_that_moment(api, reviewer, authenticated):
    if authenticated:
        api.force_authenticate(reviewer)  # not served by the response cache
    factories.PartyFactory()
    pinned = {"known_at": "2020-11-26T12:00:00Z"}
    first = api.get("/api/v1/parties/", pinned)
    again = api.get("/api/v1/parties/", pinned, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["X-Record-Time"] == first["X-Record-Time"] == "2020-11-26T12:00:00.000000Z"
