"""Malformed input gets a 4xx with a message, never a 500."""

import pytest

pytestmark = pytest.mark.django_db

LONG = "x" * 10_000


@pytest.mark.parametrize(("path", "status", "parameter"), [
    ("/api/v1/events/?date_from=yesterday", 400, "date_from"),
    ("/api/v1/events/?date_to=2020-13-45", 400, "date_to"),
    ("/api/v1/events/?updated_since=last-week", 400, "updated_since"),
    ("/api/v1/events/?page_size=-1", 400, "page_size"),
    ("/api/v1/events/?page_size=0", 400, "page_size"),
    ("/api/v1/events/?page_size=501", 400, "page_size"),
    ("/api/v1/events/?page_size=ten", 400, "page_size"),
    ("/api/v1/parties/?page_size=9999999999999999999999", 400, "page_size"),
    ("/api/v1/events/?cursor=not-a-cursor", 400, "cursor"),
    ("/api/v1/events/?cursor=eyJ2IjogMX0", 400, "cursor"),
    ("/api/v1/events/?ordering=title", 400, "ordering"),
    ("/api/v1/events/?kind=rumour", 400, "kind"),
    ("/api/v1/events/?district=not%20a%20slug", 400, "district"),
    ("/api/v1/events/?district=%00", 400, "district"),
    (f"/api/v1/events/?q={LONG}", 400, "q"),
    (f"/api/v1/districts/?q={LONG}", 400, "q"),
    ("/api/v1/events/?q=%00", 400, "q"),
    ("/api/v1/districts/?kind=planet", 400, "kind"),
    ("/api/v1/deadlines/?overdue=perhaps", 400, "overdue"),
    ("/api/v1/handovers/?status=lost", 400, "status"),
    ("/api/v1/agreements/?kind=treaty-of-nothing", 400, "kind"),
])
def test_a_malformed_filter_is_a_400_naming_the_parameter(anon, world, path, status, parameter):
    response = anon.get(path)
    assert response.status_code == status
    body = response.json()
    assert list(body["errors"]) == [parameter]
    assert body["detail"].startswith(f"{parameter}: ")


@pytest.mark.parametrize("path", [
    "/api/v1/parties/?page=0",
    "/api/v1/parties/?page=999",
    "/api/v1/parties/?page=abc",
    "/api/v1/events/no-such-event/",
    "/api/v1/handovers/abc/",
    "/api/v1/deadlines/99999999999999999999999/",
])
def test_a_page_or_record_that_does_not_exist_is_a_404_with_a_message(anon, world, path):
    response = anon.get(path)
    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_write_to_a_collection_with_an_id_beyond_range_is_a_404(editor, world):
    response = editor.patch("/api/v1/handovers/99999999999999999999999/", {}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 404


def test_an_address_under_the_api_that_names_nothing_is_a_json_404(anon, db):
    response = anon.get("/api/v1/treaties/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Nothing at /api/v1/treaties/; GET /api/v1/ lists every collection."}


@pytest.mark.parametrize("path", [
    "/api/v1/handovers/?district=%25v",
    "/api/v1/events/?district=%25s%25d",
    "/api/v1/events/?party=a%25(x)s",
    "/api/v1/deadlines/?overdue=%25s",
])
def test_percent_signs_in_filter_values_are_reported_not_crashed_on(anon, world, path):
    """Found by schemathesis: django-filter %-formats error messages."""
    response = anon.get(path)
    assert response.status_code == 400
    assert "%" in response.json()["detail"]
