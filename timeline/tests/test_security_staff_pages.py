"""No staff page answers anyone but a signed-in staff member: every admin URL is walked."""

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from timeline.tests import factories

# Pages of the admin that exist to be reached before signing in.
PUBLIC = {"admin:login", "admin:logout"}


def admin_urls(records: dict[str, str]) -> list[tuple[str, str]]:
    """(name, path) of every admin URL, parameters filled with an existing record's key."""
    found = []

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern), namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                route = prefix + str(pattern.pattern)
                model = next((m for m in records if f"/{m}/" in "/" + route), None)
                key = records.get(model, "1")
                path = re.sub(r"<(?:path|str|int|slug):object_id>", key, route)
                path = re.sub(r"<(?:path|str|int|slug):content_type_id>", "1", path)
                path = re.sub(r"<(?:\w+:)?\w+>", "1", path)
                path = path.lstrip("^").rstrip("$").replace("\\Z", "")
                if "(?P" in path:  # app_list's regex: one app label
                    path = "timeline/"
                found.append((f"{namespace}:{pattern.name}", reverse("admin:index") + path))

    walk(admin.site.get_urls(), "", "admin")
    return found


@pytest.fixture
def every_admin_url(db):
    event = factories.EventFactory()
    records = {"event": str(event.pk)}
    urls = admin_urls(records)
    assert len(urls) > 100, "the walk should reach every registered model's pages"
    return urls


def test_an_anonymous_visitor_is_sent_to_the_login_page_from_every_staff_url(every_admin_url):
    client = Client()
    login = reverse("admin:login")

    reached = []
    for name, path in every_admin_url:
        if name in PUBLIC:
            continue
        response = client.get(path)
        if not (response.status_code == 302 and response["Location"].startswith(login)):
            reached.append((name, path, response.status_code))

    assert reached == []


def test_a_signed_in_reader_without_staff_status_gets_no_staff_page(every_admin_url):
    client = Client()
    client.force_login(factories.UserFactory(username="reader", is_staff=False))
    login = reverse("admin:login")

    reached = []
    for name, path in every_admin_url:
        if name in PUBLIC:
            continue
        response = client.get(path)
        if not (response.status_code == 302 and response["Location"].startswith(login)):
            reached.append((name, path, response.status_code))

    assert reached == []


def test_the_walk_covers_the_staff_dashboard_audit_import_and_preview(every_admin_url):
    names = {name for name, _ in every_admin_url}

    assert {"admin:index", "admin:timeline_event_changelist", "admin:timeline_event_change",
            "admin:timeline_event_history"} <= names
    staff_pages = [name for name in names if re.search(r"dashboard|audit|import|preview", name)]
    assert len(staff_pages) >= 3, sorted(names)


def test_a_staff_member_does_reach_the_dashboard(db, staff_user):
    client = Client()
    client.force_login(staff_user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["user"] == staff_user


def test_a_non_staff_token_gets_no_api_write(db):
    from rest_framework.authtoken.models import Token

    reader = factories.UserFactory(username="reader", is_staff=False)
    token = Token.objects.create(user=reader)

    response = Client().post(
        "/api/v1/events/", {"title": "Nope"}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )

    assert response.status_code == 403
