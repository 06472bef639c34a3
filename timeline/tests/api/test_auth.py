"""Tokens for staff, throttling of anonymous clients, and read-only CORS."""

import pytest
from rest_framework.throttling import AnonRateThrottle

from timeline.tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def test_a_staff_account_gets_a_token_that_authenticates_later_calls(anon, editor_user, world):
    response = anon.post("/api/v1/auth/token/", {"username": "editor", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert list(response.json()) == ["token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon.get("/api/v1/events/secret-draft/").status_code == 200


def test_a_non_staff_account_gets_no_token(anon, db):
    factories.UserFactory(username="reader")
    response = anon.post("/api/v1/auth/token/", {"username": "reader", "password": PASSWORD}, format="json")
    assert response.status_code == 403
    assert "Only staff accounts" in response.json()["detail"]


def test_wrong_credentials_are_a_400_with_a_message(anon, editor_user):
    response = anon.post("/api/v1/auth/token/", {"username": "editor", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert "Unable to log in" in response.json()["detail"]


def test_an_invalid_token_is_a_401(anon, world):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon.get("/api/v1/events/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_session_authentication_works_for_the_browsable_api(client, editor_user, world):
    client.force_login(editor_user)
    response = client.get("/api/v1/events/secret-draft/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Unreviewed claim" in response.content


def test_anonymous_clients_are_throttled_with_retry_after(anon, world, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/minute", raising=False)
    assert anon.get("/api/v1/parties/").status_code == 200
    assert anon.get("/api/v1/parties/").status_code == 200
    response = anon.get("/api/v1/parties/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"]


def test_any_origin_may_read_the_api(anon, world):
    response = anon.get("/api/v1/events/", HTTP_ORIGIN="https://newsroom.example")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response["Access-Control-Expose-Headers"]


def test_a_cross_origin_preflight_allows_reading_only(anon, world):
    response = anon.options("/api/v1/events/", HTTP_ORIGIN="https://newsroom.example",
                            HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    assert set(response["Access-Control-Allow-Methods"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
