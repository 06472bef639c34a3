"""While the database cannot be reached, readers get a 503 with Retry-After, never a 500."""

import pytest
from django.db import OperationalError, connection

from timeline.tests import factories


def database_down(execute, sql, params, many, context):
    raise OperationalError("could not connect to server: Connection refused")


@pytest.mark.django_db
def test_a_page_answers_503_with_retry_after_while_the_database_is_down(client):
    factories.DistrictFactory(name="Kalbajar")

    with connection.execute_wrapper(database_down):
        response = client.get("/districts/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "The database is unavailable for a moment" in response.content.decode()
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_api_answers_503_in_its_error_shape_while_the_database_is_down(client):
    with connection.execute_wrapper(database_down):
        response = client.get("/api/v1/events/", HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"detail": "The database is unavailable for a moment; try again in a few seconds."}


@pytest.mark.django_db
def test_other_errors_are_still_errors(client, monkeypatch):
    from timeline import views

    def broken(*args, **kwargs):
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(views, "render", broken)
    client.raise_request_exception = False

    response = client.get("/districts/")

    assert response.status_code == 500
