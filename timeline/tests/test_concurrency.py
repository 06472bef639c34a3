"""Two editors open the same record: the second save is refused, showing what changed, never overwriting."""

import pytest

from timeline.models import Event
from timeline.tests import factories
from timeline.tests.test_admin import admin_url, form_post_data
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db


def test_the_second_of_two_editors_is_refused_with_the_changes_made_since(client):
    from django.test import Client

    event = factories.EventFactory(publication_status="draft", title="Opened title", summary="Opened summary")
    url = admin_url(Event, "change", event.pk)
    first, second = Client(), client
    first.force_login(user_in("Editors", "first"))
    second.force_login(user_in("Editors", "second"))
    first_data = form_post_data(first.get(url))
    second_data = form_post_data(second.get(url))

    saved = first.post(url, {**first_data, "title": "First editor's title", "change_reason": "fact check"})
    refused = second.post(url, {**second_data, "summary": "Second editor's summary"})

    assert saved.status_code == 302
    [message] = refused.context["adminform"].form.non_field_errors()
    assert message.startswith("Someone saved this record after you opened it (you opened version 1; version 2")
    assert "title: “Opened title” → “First editor's title”" in message
    assert "saved by first" in message
    event.refresh_from_db()
    assert (event.title, event.summary, event.version) == ("First editor's title", "Opened summary", 2)


def test_the_page_carries_the_version_it_was_opened_at(client):
    event = factories.EventFactory(publication_status="draft")
    event.save()
    client.force_login(user_in("Editors", "edna"))

    data = form_post_data(client.get(admin_url(Event, "change", event.pk)))

    assert data["opened_version"] == "2"


def test_a_save_from_a_fresh_page_goes_through(client):
    event = factories.EventFactory(publication_status="draft", title="Old")
    event.save()
    client.force_login(user_in("Editors", "edna"))
    url = admin_url(Event, "change", event.pk)

    response = client.post(url, {**form_post_data(client.get(url)), "title": "New"})

    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.title, event.version) == ("New", 3)
