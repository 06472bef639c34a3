"""CSV on every list, GeoJSON for districts."""

import csv
import io

import pytest

from timeline.tests import factories

pytestmark = pytest.mark.django_db

LISTS = ["events", "districts", "parties", "sources", "agreements", "deadlines", "handovers"]


def read_csv(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("collection", LISTS)
def test_every_list_is_available_as_csv_with_one_row_per_record(anon, world, collection):
    json_rows = anon.get(f"/api/v1/{collection}/").json()["results"]
    rows = read_csv(anon.get(f"/api/v1/{collection}/?format=csv"))
    assert len(rows) == len(json_rows)
    assert [row["id"] for row in rows] == [str(r["id"]) for r in json_rows]


def test_csv_columns_are_flat_with_related_records_as_slugs(anon, world):
    rows = read_csv(anon.get("/api/v1/events/?format=csv&origin=editorial"))
    assert rows == [{
        "id": str(world.editorial.pk), "slug": "war-begins", "title": "War begins",
        "summary": "Fighting starts along the line.", "body": "", "kind": "military", "origin": "editorial",
        "date": "1988-02-01", "date_precision": "month", "end_date": "", "end_date_precision": "",
        "date_display": "February 1988", "is_claim": "false", "claimed_by": "", "districts": "kalbajar",
        "parties": "armenia", "agreement": "", "handover": "", "sources": "statement-text",
        "url": "http://testserver/events/war-begins/", "status": "published",
        "updated_at": rows[0]["updated_at"],
    }]


def test_csv_of_an_empty_list_still_has_its_header(anon, world):
    content = anon.get("/api/v1/events/?format=csv&q=nothing-matches").content.decode()
    assert content.startswith("id,slug,title,summary,")
    assert content.count("\r\n") == 1


@pytest.mark.parametrize("payload", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas(anon, world, payload):
    factories.EventFactory(conflict=world.conflict, slug="formula", title=payload)
    rows = read_csv(anon.get("/api/v1/events/?format=csv&kind=political"))
    assert [row["title"] for row in rows] == ["'" + payload]


def test_csv_moves_pagination_links_into_the_link_header(anon, world):
    response = anon.get("/api/v1/events/?format=csv&page_size=2")
    assert len(read_csv(response)) == 2
    assert response["Link"].startswith("<http://testserver/api/v1/events/?")
    assert response["Link"].endswith('rel="next"')


def test_districts_as_geojson_are_a_feature_collection(anon, world):
    response = anon.get("/api/v1/districts/?format=geojson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    features = {f["id"]: f for f in body["features"]}
    assert features["kalbajar"] == {
        "type": "Feature", "id": "kalbajar",
        "geometry": {"type": "Point", "coordinates": [46.04, 40.1]},
        "properties": {"slug": "kalbajar", "name": "Kalbajar", "kind": "district", "controlled_by": "azerbaijan",
                       "controlled_by_name": "Azerbaijan", "url": "http://testserver/districts/kalbajar/"},
    }
    assert features["agdam"]["geometry"]["type"] == "Polygon"
    assert features["lachin"]["geometry"] is None


def test_one_district_as_geojson_is_a_feature(anon, world):
    body = anon.get("/api/v1/districts/kalbajar/?format=geojson").json()
    assert (body["type"], body["properties"]["slug"]) == ("Feature", "kalbajar")


def test_an_unknown_format_is_a_404_not_a_500(anon, world):
    assert anon.get("/api/v1/events/?format=xml").status_code == 404
    assert anon.get("/api/v1/events/?format=geojson").status_code == 404


def test_errors_in_csv_carry_the_message(anon, world):
    response = anon.get("/api/v1/events/?format=csv&district=atlantis")
    assert response.status_code == 400
    assert "atlantis" in response.content.decode()
