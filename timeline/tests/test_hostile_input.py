"""Oversized and malformed requests: a 4xx with a message, and nothing written.

Huge bodies, deeply nested JSON, invalid UTF-8, NUL characters, bad dates, unknown fields
and wrong content types, on the API's write path, the token endpoint, the admin and the
public pages.
"""

import json

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from timeline.models import Event
from timeline.tests import factories

pytestmark = pytest.mark.django_db

GOOD_EVENT = {"title": "Talks resume", "summary": "Negotiators meet again.", "kind": "negotiation",
              "date": "2021-03-01", "date_precision": "day", "status": "draft"}


@pytest.fixture
def conflict(db):
    return factories.ConflictFactory(name="Test conflict", slug="test-conflict")


@pytest.fixture
def staff(db, conflict):
    from django.contrib.auth.models import Group, Permission

    user = factories.UserFactory(username="desk", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="timeline"))
    administrators = Group.objects.filter(name="Administrators").first()
    if administrators:
        user.groups.add(administrators)
    token = Token.objects.create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_ACCEPT="application/json")


def post_raw(client, body: bytes, content_type="application/json", path="/api/v1/events/"):
    return client.generic("POST", path, body, content_type=content_type)


def assert_refused(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response.content, "a refusal says why"
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["detail"]


def test_the_reference_event_is_accepted(staff):
    # The requests below differ from this one only in what makes them hostile.
    response = post_raw(staff, json.dumps(GOOD_EVENT).encode())

    assert response.status_code == 201, response.content
    assert Event.objects.filter(title="Talks resume").count() == 1


def test_a_body_over_the_limit_is_refused_before_it_is_parsed(staff):
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    body = json.dumps({**GOOD_EVENT, "summary": padding}).encode()

    response = post_raw(staff, body)

    assert_refused(response, 400, 413)
    assert Event.objects.count() == 0


def test_a_body_just_under_the_limit_is_judged_on_its_content(staff):
    body = json.dumps({**GOOD_EVENT, "summary": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 400)}).encode()

    response = post_raw(staff, body)

    assert response.status_code in (201, 400)  # accepted, or refused by a field rule, but read


def test_the_body_limit_is_one_mebibyte_by_default():
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_400_not_a_crash(staff, depth):
    body = ("[" * depth + "]" * depth).encode()

    response = post_raw(staff, body)

    assert_refused(response, 400)
    assert Event.objects.count() == 0


def test_deeply_nested_json_inside_a_field_is_a_400(staff):
    nested = "[" * 1_000 + "]" * 1_000
    body = ('{"title": "Nested", "summary": "s", "kind": "other", "date": "2021-03-01", "districts": ' + nested + "}")

    response = post_raw(staff, body.encode())

    assert_refused(response, 400)
    assert Event.objects.count() == 0


def test_invalid_utf8_in_a_json_body_is_a_400(staff):
    body = b'{"title": "\xff\xfe broken", "summary": "s", "kind": "other", "date": "2021-03-01"}'

    response = post_raw(staff, body)

    assert_refused(response, 400)
    assert Event.objects.count() == 0


def test_a_nul_character_in_a_field_is_a_400(staff):
    response = post_raw(staff, json.dumps({**GOOD_EVENT, "title": "Talks\u0000resume"}).encode())

    assert_refused(response, 400)
    assert "title" in response.json().get("errors", {})
    assert Event.objects.count() == 0


@pytest.mark.parametrize("date", ["2021-02-30", "2021-13-01", "yesterday", "", "99999-01-01", "2021-03-01T25:00"])
def test_an_impossible_date_is_a_400_naming_the_field(staff, date):
    response = post_raw(staff, json.dumps({**GOOD_EVENT, "date": date}).encode())

    assert_refused(response, 400)
    assert "date" in response.json()["errors"]
    assert Event.objects.count() == 0


def test_an_unknown_field_is_a_400_naming_it(staff):
    response = post_raw(staff, json.dumps({**GOOD_EVENT, "is_admin": True}).encode())

    assert_refused(response, 400)
    assert "is_admin" in response.json()["errors"]
    assert Event.objects.count() == 0


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'"a string"', b"42", b"{", b'{"title": }'])
def test_a_body_that_is_not_a_json_object_is_a_400(staff, body):
    assert_refused(post_raw(staff, body), 400)
    assert Event.objects.count() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x"])
def test_a_body_in_another_format_is_refused(staff, content_type):
    response = post_raw(staff, json.dumps(GOOD_EVENT).encode(), content_type=content_type)

    assert_refused(response, 400, 415)
    assert Event.objects.count() == 0


def test_a_huge_token_request_is_refused(db):
    body = json.dumps({"username": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1), "password": "p"}).encode()

    response = post_raw(Client(), body, path="/api/v1/auth/token/")

    assert_refused(response, 400, 413)


def test_deep_json_at_the_token_endpoint_is_a_400(db):
    response = post_raw(Client(), b"[" * 5_000 + b"]" * 5_000, path="/api/v1/auth/token/")

    assert_refused(response, 400)


def test_a_huge_admin_login_form_is_a_400(db):
    client = Client()
    body = ("username=desk&password=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)).encode()

    response = client.generic("POST", "/admin/login/", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400


def test_too_many_form_fields_are_a_400(db):
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)).encode()

    response = Client().generic("POST", "/admin/login/", body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400


@pytest.mark.parametrize("path", [
    "/?q=%ff%fe%fd", "/?q=%00", "/?from=2020-02-30", "/?to=13-2020", "/?district=%ff", "/?as_of=%ff",
    "/timeline.json?q=%00", "/timeline.json?from=%ff&to=2020-02-30", "/timeline.json?page=%ff&order=%00",
    "/districts/?q=%c3%28", "/handovers/?as_of=0000-00-00", "/agreements/?as_of=2020-02-30",
    "/api/v1/events/?q=%ff%fe", "/api/v1/events/?date_from=%ff", "/api/v1/districts/?q=%c3%28",
    "/feeds/events.atom?x=%ff", "/events/%ff%fe/", "/districts/%c3%28/",
])
def test_malformed_query_strings_and_paths_never_crash_a_page(client, conflict, path):
    factories.EventFactory(conflict=conflict, title="Something happened")

    response = client.get(path)

    assert response.status_code < 500, (path, response.status_code)


def test_an_unknown_host_is_refused(client):
    response = client.get("/", HTTP_HOST="evil.example")

    assert response.status_code == 400


def test_a_deeply_nested_dataset_file_is_refused_by_the_importer_with_a_message(tmp_path):
    from django.core.management import CommandError, call_command

    path = tmp_path / "deep.json"
    path.write_text('{"format": "conflict-timeline", "version": 1, "events": ' + "[" * 5_000 + "]" * 5_000 + "}")

    with pytest.raises(CommandError) as refused:
        call_command("import_timeline", str(path), verbosity=0)

    assert "nothing was written" in str(refused.value)
    assert "nested too deeply" in str(refused.value)
