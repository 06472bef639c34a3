"""The schema documents the answers that come from outside the views (found by an external schemathesis run)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon):
    return anon.get("/api/v1/schema/?format=json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_read_allows_anonymous_clients(schema):
    reads = [(path, op) for path, method, op in operations(schema) if method == "get"]
    assert reads
    assert all({} in op["security"] for _, op in reads), [p for p, op in reads if {} not in op["security"]]


def test_writes_still_require_authentication(schema):
    writes = [op for _, method, op in operations(schema) if method in ("put", "patch", "delete")]
    assert writes and all({} not in op.get("security", []) for op in writes)


def test_every_operation_documents_bad_parameters_unknown_formats_and_throttling(schema):
    for path, method, op in operations(schema):
        assert {"400", "404", "406", "429"} <= set(op["responses"]), (method, path)


def test_a_detail_answers_400_for_a_malformed_as_of_as_documented(anon, schema, db):
    from timeline.tests import factories

    event = factories.EventFactory()
    response = anon.get(f"/api/v1/events/{event.slug}/", {"as_of": "null"})
    assert response.status_code == 400
    assert "as_of" in response.json()["errors"]
    assert "400" in schema["paths"]["/api/v1/events/{slug}/"]["get"]["responses"]


def test_an_unknown_format_is_a_documented_404_not_a_500(anon, schema):
    response = anon.get("/api/v1/sources/", {"format": "AAA"})
    assert response.status_code == 404
    assert "404" in schema["paths"]["/api/v1/sources/"]["post"]["responses"]


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
def test_an_error_to_a_csv_or_geojson_request_is_the_documented_json_error(anon, fmt):
    """Found by an external schemathesis run: a 404 asked for as CSV came back as text/csv."""
    response = anon.get("/api/v1/districts/no-such-district/", {"format": fmt})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_a_bad_filter_on_a_csv_list_is_a_json_400_naming_it(anon):
    response = anon.get("/api/v1/events/", {"format": "csv", "date_from": "nonsense"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "date_from" in response.json()["errors"]


def test_a_csv_list_is_still_csv(anon, db):
    from timeline.tests import factories

    factories.EventFactory()
    response = anon.get("/api/v1/events/", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
