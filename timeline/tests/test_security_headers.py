"""Security headers on every kind of response: a page, the API, a static file, a 404, the API docs."""

import pytest
from django.test import Client, override_settings

from conflict.middleware import vis_timeline_style_hashes
from timeline.tests import factories

STRICT_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = sources
    return directives


# Public pages: the strict policy, plus style attributes for the party colours of the map and bars.
PUBLIC_PAGE_POLICY = {**STRICT_POLICY, "style-src-attr": ["'unsafe-inline'"]}


def assert_common_headers(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    for directive, sources in policy(response).items():
        if directive != "style-src-attr":
            assert "'unsafe-inline'" not in sources, directive
            assert "'unsafe-eval'" not in sources, directive


@pytest.mark.django_db
def test_a_page_has_the_strict_policy_and_the_common_headers(client):
    factories.EventFactory(title="A published entry")

    response = client.get("/districts/")

    assert response.status_code == 200
    assert policy(response) == PUBLIC_PAGE_POLICY
    assert_common_headers(response)


@pytest.mark.django_db
def test_an_api_response_has_the_strict_policy_and_the_common_headers(client):
    response = client.get("/api/v1/events/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert policy(response) == STRICT_POLICY
    assert_common_headers(response)


@pytest.mark.django_db
def test_a_not_found_page_has_the_strict_policy_and_the_common_headers(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert policy(response) == STRICT_POLICY
    assert_common_headers(response)


@pytest.mark.django_db
def test_an_api_not_found_has_the_strict_policy_and_the_common_headers(client):
    response = client.get("/api/v1/nothing-here/")

    assert response.status_code == 404
    assert policy(response) == STRICT_POLICY
    assert_common_headers(response)


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_a_static_file_served_by_whitenoise_has_the_headers_too():
    # A fresh client builds its middleware under the override, as a server would at start.
    response = Client().get("/static/css/site.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert policy(response) == STRICT_POLICY
    assert_common_headers(response)


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=True)
def test_hsts_is_sent_over_https_only(client):
    secure = client.get("/districts/", secure=True)
    plain = client.get("/districts/")

    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in plain


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_to_https_when_asked(client):
    response = client.get("/districts/?q=x")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/districts/?q=x"


@pytest.mark.django_db
@override_settings(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)
def test_staff_session_and_csrf_cookies_are_secure_httponly_and_same_site(client):
    factories.UserFactory(username="desk", is_staff=True, password="A-long-enough-passphrase-1")
    login_page = client.get("/admin/login/", secure=True)
    csrf = login_page.cookies["csrftoken"]

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "desk", "password": "A-long-enough-passphrase-1",
                                       "csrfmiddlewaretoken": csrf.value}, secure=True,
    )

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] is True
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert csrf["secure"] is True
    assert csrf["samesite"] == "Lax"


@pytest.mark.django_db
def test_the_home_page_allows_exactly_the_styles_vis_timeline_injects(client):
    factories.EventFactory(title="On the timeline")

    response = client.get("/")

    directives = policy(response)
    hashes = vis_timeline_style_hashes()
    assert len(hashes) >= 10  # one per stylesheet block the vendored build injects
    assert directives["style-src-elem"] == ["'self'", *hashes]
    assert directives == {**PUBLIC_PAGE_POLICY, "style-src-elem": ["'self'", *hashes]}


@pytest.mark.django_db
def test_the_swagger_docs_allow_their_own_inline_blocks_by_hash_only(client):
    response = client.get("/api/v1/docs/")

    directives = policy(response)
    assert response.status_code == 200
    assert directives["script-src"][0] == "'self'"
    assert len(directives["script-src"]) == 2
    assert directives["script-src"][1].startswith("'sha256-")
    assert "'unsafe-inline'" not in directives["script-src"] + directives["style-src"]
    assert directives["style-src-attr"] == ["'unsafe-inline'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_redoc_gets_inline_styles_and_a_blob_worker_but_no_inline_script(client):
    response = client.get("/api/v1/redoc/")

    directives = policy(response)
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["worker-src"] == ["'self'", "blob:"]
    assert directives["script-src"] == ["'self'"]  # Redoc's page starts from its script file alone


@pytest.mark.django_db
def test_the_admin_keeps_the_strict_policy(client, superuser):
    client.force_login(superuser)

    response = client.get("/admin/timeline/party/")

    assert response.status_code == 200
    assert policy(response) == STRICT_POLICY
    assert "style=" not in response.content.decode()


@pytest.mark.parametrize("colour", ["red;background:url(//evil.example/x)", "#12345", "#1234567", "expression(1)",
                                    "#12345g", "#123456\" onmouseover=\"alert(1)"])
def test_a_party_colour_can_only_be_a_hex_colour_so_style_attributes_carry_nothing_else(db, colour):
    from django.core.exceptions import ValidationError

    party = factories.PartyFactory.build(colour=colour)

    with pytest.raises(ValidationError) as refused:
        party.full_clean(exclude=["slug"])

    assert "colour" in refused.value.message_dict


@pytest.mark.django_db
def test_a_304_keeps_the_policy_the_browser_stored_with_the_page(client):
    """A 304 replaces stored headers: a strict policy on it would block the page's own exceptions."""
    factories.EventFactory()
    first = client.get("/")
    assert "style-src-attr" in policy(first)
    again = client.get("/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert not again.has_header("Content-Security-Policy")
    assert not again.has_header("Content-Security-Policy-Report-Only")
