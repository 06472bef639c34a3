"""Writing: who may, what a body must say, and how each resource is created, changed and deleted."""

import json

import pytest

from timeline.models import Agreement, Deadline, District, Event, Handover, Party, Publication, Source
from timeline.tests import factories
from timeline.tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def create_bodies(world):
    return {
        "events": {"title": "Talks resume", "summary": "Negotiators meet again.", "kind": "negotiation",
                   "date": "2021-03-01", "date_precision": "month", "districts": ["kalbajar", "agdam"],
                   "parties": ["armenia"], "status": "published"},
        "districts": {"name": "Shusha", "kind": "town", "latitude": "39.76", "longitude": "46.75",
                      "parent": "kalbajar"},
        "parties": {"name": "OSCE Minsk Group", "kind": "mediator", "colour": "#123456"},
        "sources": {"title": "A report", "kind": "news_report", "publisher": "Agency", "published_on": "2021-01-01",
                    "published_on_precision": "year", "url": "https://example.org/report"},
        "agreements": {"title": "Second statement", "kind": "joint_statement", "signed_on": "2021-01-11",
                       "conflict": "test-conflict"},
        # The agreement is published: a deadline added to it corrects it, with a public note.
        "deadlines": {"agreement": "trilateral-statement", "obligation": "Return of Lachin", "district": "lachin",
                      "original_due_on": "2020-12-01", "public_note": "A deadline was missing."},
        "handovers": {"district": "lachin", "agreement": "trilateral-statement", "from_party": "armenia",
                      "to_party": "azerbaijan", "publication_status": "published"},
    }


MODELS = {"events": Event, "districts": District, "parties": Party, "sources": Source, "agreements": Agreement,
          "deadlines": Deadline, "handovers": Handover}


def detail_path(world, collection):
    return {
        "events": "/api/v1/events/war-begins/",
        "districts": "/api/v1/districts/lachin/",
        "parties": "/api/v1/parties/russia/",
        "sources": "/api/v1/sources/statement-text/",
        "agreements": "/api/v1/agreements/trilateral-statement/",
        "deadlines": f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/",
        "handovers": f"/api/v1/handovers/{world.agdam_handover.pk}/",
    }[collection]


PATCHES = {
    "events": {"title": "War begins (revised)"},
    "districts": {"description": "Mountain district."},
    "parties": {"short_name": "Moscow"},
    "sources": {"author": "Someone"},
    "agreements": {"short_title": "Statement"},
    "deadlines": {"obligation": "Return of the Agdam district"},
    "handovers": {"summary": "Handed over quietly."},
}

COLLECTIONS = list(MODELS)
NOTE = {"public_note": "Wording clarified."}  # the world's records are published: a change is a correction


def etag_of(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return response["ETag"]


# -- the permission matrix --------------------------------------------------------------------


@pytest.fixture(params=["anonymous", "member", "staff_without_perms"])
def outsider(request, anon, member, staff_without_perms):
    expected = 401 if request.param == "anonymous" else 403
    return {"anonymous": anon, "member": member, "staff_without_perms": staff_without_perms}[request.param], expected


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_only_staff_with_the_model_permission_may_create(outsider, world, collection, editor):
    client, expected = outsider
    before = MODELS[collection].objects.count()
    response = client.post(f"/api/v1/{collection}/", create_bodies(world)[collection], format="json")
    assert response.status_code == expected
    assert response.json()["detail"]
    assert MODELS[collection].objects.count() == before


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_only_staff_with_the_model_permission_may_change(outsider, world, collection, editor):
    client, expected = outsider
    path = detail_path(world, collection)
    etag = etag_of(editor, path)
    before = editor.get(path).json()
    response = client.patch(path, PATCHES[collection], format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == expected
    assert editor.get(path).json() == before


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_only_staff_with_the_model_permission_may_delete(outsider, world, collection, editor):
    client, expected = outsider
    path = detail_path(world, collection)
    response = client.delete(path, HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == expected
    assert editor.get(path).status_code == 200


def test_staff_with_only_the_add_permission_may_not_change(world, editor_user):
    from django.contrib.auth.models import Permission

    user = factories.UserFactory(username="adder", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="add_party"))
    client = token_client(user)
    assert client.post("/api/v1/parties/", {"name": "New", "kind": "state"}, format="json").status_code == 201
    path = "/api/v1/parties/russia/"
    assert client.patch(path, {"short_name": "X"}, format="json", HTTP_IF_MATCH=etag_of(client, path)).status_code == 403


# -- staff with permission --------------------------------------------------------------------


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_an_editor_creates_each_resource_and_gets_it_back(editor, world, collection):
    response = editor.post(f"/api/v1/{collection}/", create_bodies(world)[collection], format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"]
    assert response["Location"].startswith("http://testserver/")
    path = response["Location"] if collection != "events" else f"/api/v1/events/{body['slug']}/"
    assert editor.get(path).json() == body


def test_a_created_event_gets_a_slug_from_its_date_and_title_and_its_districts(editor, world):
    body = editor.post("/api/v1/events/", create_bodies(world)["events"], format="json").json()
    assert body["slug"] == "2021-03-01-talks-resume"
    assert body["date_display"] == "March 2021"
    assert [d["slug"] for d in body["districts"]] == ["agdam", "kalbajar"]
    assert body["origin"] == "editorial"
    assert Event.objects.get(slug="2021-03-01-talks-resume").districts.count() == 2


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_an_editor_changes_each_resource_with_if_match(editor, world, collection):
    path = detail_path(world, collection)
    response = editor.patch(path, {**PATCHES[collection], **NOTE}, format="json", HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == 200, response.content
    field, value = next(iter(PATCHES[collection].items()))
    assert response.json()[field] == value
    assert editor.get(path).json()[field] == value
    assert response["ETag"] == etag_of(editor, path)


def test_put_replaces_an_editorial_event(editor, world):
    path = "/api/v1/events/war-begins/"
    body = {"title": "The war begins", "summary": "Fighting.", "kind": "military", "date": "1988-01-01",
            "date_precision": "year", "districts": ["agdam"], "parties": [], **NOTE}
    response = editor.put(path, body, format="json", HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == 200, response.content
    got = response.json()
    assert (got["date_display"], got["districts"], got["parties"]) == ("1988", [{"slug": "agdam", "name": "Agdam"}], [])


@pytest.mark.parametrize("collection", ["events", "districts", "parties", "deadlines", "handovers"])
def test_an_editor_deletes_a_draft_nothing_depends_on(editor, world, collection):
    if collection == "parties":
        path = f"/api/v1/parties/{factories.PartyFactory(slug='lonely', publication_status='draft').slug}/"
    else:
        path = detail_path(world, collection)
        model = MODELS[collection]
        if collection == "deadlines":  # a deadline is a row of its agreement: a draft agreement's is free
            Agreement.objects.filter(slug="trilateral-statement").update(publication_status="draft", published_at=None)
        if hasattr(model, "publication_status"):
            model.objects.filter(pk=model.objects.get(**lookup_of(path)).pk).update(
                publication_status="draft", published_at=None
            )
    assert editor.delete(path, HTTP_IF_MATCH=etag_of(editor, path)).status_code == 204
    assert editor.get(path).status_code == 404


@pytest.mark.parametrize("collection", ["events", "districts", "parties", "handovers"])
def test_deleting_a_published_record_withdraws_it_with_its_note(editor, anon, world, collection):
    path = "/api/v1/parties/russia/" if collection == "parties" else detail_path(world, collection)
    response = editor.delete(
        path, {"public_note": "Entered twice."}, format="json", HTTP_IF_MATCH=etag_of(editor, path)
    )
    assert response.status_code == 200, response.content
    record = MODELS[collection].objects.get(**lookup_of(path))
    assert record.publication_status == "withdrawn"
    assert Publication.objects.get(action="withdrawn", object_id=record.pk).note == "Entered twice."
    assert anon.get(path).status_code == 404


def test_deleting_a_published_record_without_a_note_is_a_400_and_changes_nothing(editor, world):
    path = detail_path(world, "events")
    response = editor.delete(path, HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == 400
    assert "public note" in response.json()["errors"]["public_note"][0]
    assert Event.objects.get(slug="war-begins").publication_status == "published"


def lookup_of(path):
    key = path.rstrip("/").rsplit("/", 1)[1]
    return {"pk": int(key)} if key.isdigit() else {"slug": key}


def test_deleting_a_record_others_depend_on_is_a_409_and_changes_nothing(editor, world):
    path = "/api/v1/parties/armenia/"
    Party.objects.filter(slug="armenia").update(publication_status="draft", published_at=None)
    response = editor.delete(path, HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == 409
    assert "refer to this one" in response.json()["detail"]
    assert Party.objects.filter(slug="armenia").exists()


def test_deleting_a_completed_handover_retires_its_timeline_entry(editor, world):
    path = f"/api/v1/handovers/{world.handover.pk}/"
    response = editor.delete(path, {"public_note": "Recorded twice."}, format="json", HTTP_IF_MATCH=etag_of(editor, path))
    assert response.status_code == 200, response.content
    entry = Event.objects.get(origin="handover_completed")
    assert entry.publication_status == "withdrawn"


# -- derived records ---------------------------------------------------------------------------


def test_derived_events_are_read_only(editor, world):
    derived = Event.objects.filter(origin="deadline_due").first()
    path = f"/api/v1/events/{derived.slug}/"
    etag = etag_of(editor, path)
    response = editor.patch(path, {"title": "Edited"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 409
    assert "derived" in response.json()["detail"]
    assert editor.delete(path, HTTP_IF_MATCH=etag).status_code == 409
    derived.refresh_from_db()
    assert derived.title.startswith("Deadline:")


def test_changing_an_agreement_re_derives_its_signing_entry(editor, world):
    path = "/api/v1/agreements/trilateral-statement/"
    response = editor.patch(
        path, {"signed_on": "2020-11-10", **NOTE}, format="json", HTTP_IF_MATCH=etag_of(editor, path)
    )
    assert response.status_code == 200, response.content
    assert Event.objects.get(origin="agreement_signed").date.isoformat() == "2020-11-10"


def test_completing_a_handover_through_the_api_derives_status_delay_and_entry(editor, world):
    path = f"/api/v1/handovers/{world.agdam_handover.pk}/"
    response = editor.patch(
        path, {"completed_on": "2020-11-20", **NOTE}, format="json", HTTP_IF_MATCH=etag_of(editor, path)
    )
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["delay_days"]) == ("completed", 0)
    assert Event.objects.filter(origin="handover_completed", handover=world.agdam_handover).exists()


def test_a_new_deadline_starts_due_on_its_original_date_and_gets_its_entry(editor, world):
    body = editor.post("/api/v1/deadlines/", create_bodies(world)["deadlines"], format="json").json()
    assert (body["original_due_on"], body["due_on"], body["postponements"]) == ("2020-12-01", "2020-12-01", [])
    assert Event.objects.filter(origin="deadline_due", deadline_id=body["id"]).exists()


# -- postponing ------------------------------------------------------------------------------------


def postpone_body(**overrides):
    # The deadline's agreement is published: a postponement corrects it, with a public note.
    return {"to_date": "2020-11-30", "decided_on": "2020-11-18", "requested_by": "armenia",
            "agreed_by": ["azerbaijan"], "reason": "Roads.", "public_note": "Postponed.", **overrides}


def test_postponing_a_deadline_moves_due_on_and_keeps_the_original(editor, world):
    path = f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/"
    response = editor.post(f"{path}postpone/", postpone_body(), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["original_due_on"], body["due_on"]) == ("2020-11-20", "2020-11-30")
    assert body["postponements"][0]["requested_by"] == {"slug": "armenia", "name": "Armenia"}
    assert editor.get(f"/api/v1/handovers/{world.agdam_handover.pk}/").json()["status"] == "postponed"


def test_postponing_to_the_date_it_already_has_is_a_400(editor, world):
    path = f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/postpone/"
    response = editor.post(path, postpone_body(to_date="2020-11-20"), format="json")
    assert response.status_code == 400
    assert "to_date" in response.json()["errors"]


def test_postponing_needs_the_deadline_change_permission(staff_without_perms, anon, world):
    path = f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/postpone/"
    assert anon.post(path, postpone_body(), format="json").status_code == 401
    assert staff_without_perms.post(path, postpone_body(), format="json").status_code == 403
    assert Deadline.objects.get(pk=world.agdam_handover.deadline_id).postponements.count() == 0


def test_postponing_with_a_stale_if_match_is_a_412(editor, world):
    path = f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/"
    etag = etag_of(editor, path)
    editor.post(f"{path}postpone/", postpone_body(), format="json")
    response = editor.post(f"{path}postpone/", postpone_body(to_date="2020-12-05"), format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412


def test_due_dates_are_not_editable_through_a_deadline_update(editor, world):
    path = f"/api/v1/deadlines/{world.agdam_handover.deadline_id}/"
    for field in ("due_on", "original_due_on"):
        response = editor.patch(path, {field: "2021-01-01"}, format="json", HTTP_IF_MATCH=etag_of(editor, path))
        assert response.status_code == 400
        assert list(response.json()["errors"]) == [field]
    assert editor.get(path).json()["due_on"] == "2020-11-20"


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"date": "2020-02-15", "date_precision": "month"}, "date", "1st of the month"),
    ({"date": "2020-02-01", "end_date": "2019-01-01"}, "end_date", "before the start"),
    ({"date": "2020-02-01", "end_date": "2020-06-15", "end_date_precision": "year"}, "end_date", "1 January"),
    ({"kind": "rumour"}, "kind", "not a valid choice"),
    ({"districts": ["atlantis"]}, "districts", "does not exist"),
    ({"title": ""}, "title", "may not be blank"),
    ({"date": "yesterday"}, "date", "wrong format"),
])
def test_an_invalid_event_is_a_400_naming_the_field_and_reason(editor, world, body, field, reason):
    full = {"title": "T", "summary": "S", "kind": "political", "date": "2020-02-01", **body}
    response = editor.post("/api/v1/events/", full, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == [field]
    assert reason in errors[field][0]
    assert reason in response.json()["detail"]


def test_a_handover_to_the_same_party_is_a_400(editor, world):
    body = {**create_bodies(world)["handovers"], "to_party": "armenia"}
    response = editor.post("/api/v1/handovers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"to_party": ["A handover needs two different parties."]}
    assert not Handover.objects.filter(district__slug="lachin").exists()


def test_an_agreement_with_an_unknown_time_zone_is_a_400(editor, world):
    body = {**create_bodies(world)["agreements"], "effective_at": "2021-01-11T00:00:00Z", "effective_timezone": "Mars/Base"}
    response = editor.post("/api/v1/agreements/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["effective_timezone"]


def test_a_district_with_only_a_latitude_is_a_400(editor, world):
    response = editor.post("/api/v1/districts/", {"name": "Half", "latitude": "40.0"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["longitude"]


def test_unknown_fields_are_rejected_by_name(editor, world):
    body = {**create_bodies(world)["parties"], "colour_scheme": "red", "id": 99}
    response = editor.post("/api/v1/parties/", body, format="json")
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["colour_scheme", "id"]
    assert not Party.objects.filter(name="OSCE Minsk Group").exists()


def test_malformed_json_is_a_400(editor, world):
    response = editor.generic("POST", "/api/v1/parties/", '{"name": "x", ', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_json_list_instead_of_an_object_is_a_400(editor, world):
    response = editor.generic("POST", "/api/v1/parties/", json.dumps([1, 2]), content_type="application/json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


def test_a_body_that_is_not_json_is_a_415(editor, world):
    response = editor.generic("POST", "/api/v1/parties/", "name=x&kind=state",
                              content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.json()["detail"]
