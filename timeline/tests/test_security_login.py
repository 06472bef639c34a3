"""Staff sign-in: password rules, and the lock-out after repeated failures (django-axes)."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from timeline.tests import factories

PASSWORD = "A-long-enough-passphrase-1"
LOCKED_WORDS = "Signing in is locked for 15 minutes"


@pytest.fixture
def desk(db):
    return factories.UserFactory(username="desk", is_staff=True, password=PASSWORD)


def admin_login(client, password, username="desk"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def token_login(client, password, username="desk"):
    return client.post("/api/v1/auth/token/", {"username": username, "password": password},
                       content_type="application/json")


def fail(times, login, client):
    """``times`` wrong passwords; only the fifth (the one that locks) may answer 429."""
    for attempt in range(times):
        response = login(client, f"wrong-{attempt}")
        assert response.status_code in ((200, 400, 429) if attempt == 4 else (200, 400)), response.status_code


# -- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short-1", "password_too_short"),
        ("password1234", "password_too_common"),
        ("839201746528", "password_entirely_numeric"),
        ("desk@example.org!", "password_too_similar"),
    ],
)
def test_a_weak_staff_password_is_refused_with_the_rule_it_breaks(desk, password, code):
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=desk)

    assert code in [error.code for error in refused.value.error_list]


def test_a_long_uncommon_password_is_accepted(desk):
    assert validate_password("river-lantern-okapi-42", user=desk) is None


# -- admin lock-out -----------------------------------------------------------------------


def test_five_failed_admin_logins_lock_the_account_out_with_plain_words(desk):
    client = Client()
    fail(4, admin_login, client)

    fifth = admin_login(client, "wrong-again")

    assert fifth.status_code == 429
    assert LOCKED_WORDS in fifth.content.decode()
    assert fifth["Retry-After"] == "900"


def test_four_failures_do_not_lock_and_a_success_clears_them(desk):
    client = Client()
    fail(4, admin_login, client)

    assert admin_login(client, PASSWORD).status_code == 302
    client.logout()
    fail(4, admin_login, client)
    assert admin_login(client, PASSWORD).status_code == 302


def test_once_locked_even_the_right_password_is_refused(desk):
    client = Client()
    fail(5, admin_login, client)

    response = admin_login(client, PASSWORD)

    assert response.status_code == 429
    assert LOCKED_WORDS in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_the_lock_is_for_that_username_from_that_address_only(desk):
    factories.UserFactory(username="other", is_staff=True, password=PASSWORD)
    fail(5, admin_login, Client(REMOTE_ADDR="192.0.2.10"))

    assert admin_login(Client(REMOTE_ADDR="192.0.2.11"), PASSWORD).status_code == 302
    assert admin_login(Client(REMOTE_ADDR="192.0.2.10"), PASSWORD, username="other").status_code == 302
    assert admin_login(Client(REMOTE_ADDR="192.0.2.10"), PASSWORD).status_code == 429


def test_the_lock_ends_after_fifteen_minutes(desk):
    client = Client()
    fail(5, admin_login, client)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=15, seconds=5))

    assert admin_login(client, PASSWORD).status_code == 302


def test_trying_again_while_locked_does_not_extend_the_lock(desk):
    client = Client()
    fail(5, admin_login, client)
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=14))
    assert admin_login(client, "still-wrong").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=15, seconds=5))

    assert admin_login(client, PASSWORD).status_code == 302


def test_the_reset_command_lifts_every_lock(desk):
    client = Client()
    fail(5, admin_login, client)

    call_command("axes_reset", verbosity=0)

    assert AccessAttempt.objects.count() == 0
    assert admin_login(client, PASSWORD).status_code == 302


def test_the_reset_command_can_lift_one_username(desk):
    factories.UserFactory(username="other", is_staff=True, password=PASSWORD)
    client = Client()
    fail(5, admin_login, client)
    fail(5, lambda c, p: admin_login(c, p, username="other"), client)

    call_command("axes_reset_username", "desk", verbosity=0)

    assert admin_login(client, PASSWORD).status_code == 302
    assert admin_login(Client(), PASSWORD, username="other").status_code == 429


# -- API token: the same lock ------------------------------------------------------------


def test_five_failed_token_requests_lock_the_token_endpoint_in_the_api_error_shape(desk):
    client = Client()
    fail(4, token_login, client)

    fifth = token_login(client, "wrong-again")

    assert fifth.status_code == 429
    assert fifth["Content-Type"] == "application/json"
    assert LOCKED_WORDS in fifth.json()["detail"]
    assert fifth["Retry-After"] == "900"


def test_a_locked_out_token_request_with_the_right_password_gets_no_token(desk):
    client = Client()
    fail(5, token_login, client)

    response = token_login(client, PASSWORD)

    assert response.status_code == 429
    assert "token" not in response.json()
    assert not Token.objects.filter(user=desk).exists()


def test_failures_on_the_admin_and_the_api_count_together(desk):
    client = Client()
    fail(3, admin_login, client)
    assert token_login(client, "wrong-4").status_code == 400
    assert token_login(client, "wrong-5").status_code == 429

    assert token_login(client, PASSWORD).status_code == 429
    assert admin_login(client, PASSWORD).status_code == 429


def test_the_token_endpoint_works_again_after_a_reset(desk):
    client = Client()
    fail(5, token_login, client)

    call_command("axes_reset", verbosity=0)
    response = token_login(client, PASSWORD)

    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


def test_a_token_request_without_credentials_is_a_clear_400_not_a_lock(desk):
    response = Client().post("/api/v1/auth/token/", {}, content_type="application/json")

    assert response.status_code == 400
    assert AccessAttempt.objects.count() == 0


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_the_proxy_a_forged_forwarded_for_does_not_escape_the_lock(desk):
    # The proxy appends the real client (198.51.100.7); whatever the client put before it is ignored.
    for attempt in range(5):
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}, 198.51.100.7")
        admin_login(client, f"wrong-{attempt}")

    forged = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.99, 198.51.100.7")
    elsewhere = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")

    assert admin_login(forged, PASSWORD).status_code == 429
    assert admin_login(elsewhere, PASSWORD).status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
