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
