"""The record as of a day (``?as_of=``) on the pages and the API, with the demo dataset's dates."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from timeline.tests.pages import main_text, queries_for

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"


@pytest.fixture
def demo():
    call_command("import_timeline", str(DEMO), verbosity=0)


def tracker_row(client, day: str, district: str) -> str:
    html = client.get(f"/handovers/?as_of={day}").content.decode()
    start = html.index(f'<tr id="handover-{district}">')
    from timeline.tests.pages import text_of

    return text_of(html[start:html.index("</tr>", start)])


# --------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------


def test_as_of_14_november_the_kalbajar_handover_is_scheduled_for_the_15th(client, demo):
    row = tracker_row(client, "2020-11-14", "kalbajar")
    assert "15 November 2020" in row
    assert "25 November" not in row
    assert row.endswith("Scheduled")


def test_as_of_16_november_the_kalbajar_handover_is_postponed_to_the_25th(client, demo):
    row = tracker_row(client, "2020-11-16", "kalbajar")
    assert "15 November 2020 → 25 November 2020" in row
    assert "not yet" in row
    assert row.endswith("Postponed")


def test_as_of_26_november_the_kalbajar_handover_is_completed(client, demo):
    row = tracker_row(client, "2020-11-26", "kalbajar")
    assert "Completed" in row and "25 November 2020" in row
    assert "10 days after the original deadline; on the postponed deadline" in row


def test_as_of_19_november_agdam_is_not_yet_handed_over_and_lachin_is_scheduled(client, demo):
    assert tracker_row(client, "2020-11-19", "agdam").endswith("Scheduled")
    assert "not yet" in tracker_row(client, "2020-11-19", "agdam")
    assert tracker_row(client, "2020-11-21", "agdam").endswith("Completed")


def test_the_tracker_as_of_a_day_says_so_and_keeps_the_date_in_its_control(client, demo):
    response = client.get("/handovers/?as_of=2020-11-16")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="as_of" id="id_as_of" value="2020-11-16"' in html
    assert "You are reading the record as it stood at the end of 16 November 2020" in main_text(response)


def test_as_of_26_november_kalbajar_is_held_by_azerbaijan_and_before_by_armenia(client, demo):
    after = main_text(client.get("/districts/kalbajar/?as_of=2020-11-26"))
    before = main_text(client.get("/districts/kalbajar/?as_of=2020-11-24"))
    assert "Azerbaijan 25 November 2020 still held" in after
    assert "Armenian forces 1992 still held" in before
    assert "Azerbaijan 25 November 2020" not in before


def test_the_district_list_as_of_a_day_names_who_held_each_district_then(client, demo):
    html = client.get("/districts/?as_of=2020-11-19").content.decode()
    row = html[html.index('<a href="/districts/agdam/?as_of=2020-11-19">'):]
    row = row[: row.index("</tr>")]
    assert "Armenian forces" in row and "Azerbaijan" not in row
    later = client.get("/districts/?as_of=2020-11-26").content.decode()
    row = later[later.index('<a href="/districts/agdam/?as_of=2020-11-26">'):]
    assert "Azerbaijan" in row[: row.index("</tr>")]


def test_the_map_colours_each_district_by_who_held_it_with_a_legend(client, demo):
    html = client.get("/districts/?as_of=2020-11-19").content.decode()
    assert "<title>Agdam: held by Armenian forces; Handover scheduled</title>" in html
    assert "<title>Kalbajar: held by Armenian forces; Handover postponed</title>" in html
    assert "Held by Armenian forces</li>" in html
    later = client.get("/districts/?as_of=2020-11-26").content.decode()
    assert "<title>Kalbajar: held by Azerbaijan; Handed over</title>" in later


def test_the_timeline_as_of_a_day_leaves_out_later_entries(client, demo):
    then = client.get("/?as_of=2020-11-24").content.decode()
    now = client.get("/").content.decode()
    assert "/events/2020-10-fighting-continues-after-humanitarian-ceasefire/" in then
    assert "/events/2020-11-25-army-enters-kalbajar/" in now
    assert "/events/2020-11-25-army-enters-kalbajar/" not in then
    assert "The record as it stood at the end of 24 November 2020" in main_text(client.get("/?as_of=2020-11-24"))


def test_a_day_before_the_first_event_answers_an_empty_record(client, demo):
    response = client.get("/?as_of=1900-01-01")
    assert response.status_code == 200
    assert "No entries match these filters." in main_text(response)
    assert "No handover was scheduled by then." in main_text(client.get("/handovers/?as_of=1900-01-01"))
    assert "No agreement had been signed by then." in main_text(client.get("/agreements/?as_of=1900-01-01"))


@pytest.mark.parametrize("path", ["/", "/handovers/", "/districts/", "/districts/kalbajar/", "/agreements/"])
def test_a_malformed_day_is_a_400_that_names_the_field(client, demo, path):
    response = client.get(f"{path}?as_of=26-11-2020")
    assert response.status_code == 400
    assert "Give the day as YYYY-MM-DD, e.g. 2020-11-26; showing the record as of today." in main_text(response)


def test_an_agreement_page_as_of_a_day_before_its_signing_is_not_found(client, demo):
    assert client.get("/agreements/trilateral-statement-november-2020/?as_of=2020-11-01").status_code == 404


def test_the_agreement_page_as_of_16_november_shows_kalbajar_postponed_and_pending(client, demo):
    text = main_text(client.get("/agreements/trilateral-statement-november-2020/?as_of=2020-11-16"))
    assert "Return of the Kalbajar district to Azerbaijan: due 25 November 2020 (first set for 15 November 2020)" in text
    assert "Return of the Agdam district to Azerbaijan: due 20 November 2020; completed" not in text
    assert "Return of the Agdam district to Azerbaijan: due 20 November 2020" in text
    assert "1 of 9 provisions implemented at the end of 16 November 2020." in text


@pytest.mark.parametrize("path", ["/handovers/", "/districts/", "/districts/kalbajar/",
                                  "/agreements/trilateral-statement-november-2020/", "/"])
def test_as_of_adds_no_query(client, demo, path):
    assert queries_for(client, f"{path}?as_of=2020-11-26") == queries_for(client, path)


# --------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient()


def test_the_api_handover_as_of_16_november_is_postponed_to_the_25th(api, demo):
    rows = api.get("/api/v1/handovers/?as_of=2020-11-16&district=kalbajar").json()["results"]
    assert [(r["status"], r["original_due_on"], r["due_on"], r["completed_on"], len(r["postponements"]))
            for r in rows] == [("postponed", "2020-11-15", "2020-11-25", None, 1)]
    rows = api.get("/api/v1/handovers/?as_of=2020-11-14&district=kalbajar").json()["results"]
    assert [(r["status"], r["due_on"], r["postponements"]) for r in rows] == [("scheduled", "2020-11-15", [])]


def test_the_api_district_as_of_26_november_is_held_by_azerbaijan(api, demo):
    assert api.get("/api/v1/districts/kalbajar/?as_of=2020-11-26").json()["controlled_by"]["slug"] == "azerbaijan"
    assert api.get("/api/v1/districts/kalbajar/?as_of=2020-11-24").json()["controlled_by"]["slug"] == "armenian-forces"


def test_the_api_deadline_as_of_a_day_has_the_due_date_decided_by_then(api, demo):
    rows = api.get("/api/v1/deadlines/?as_of=2020-11-14&district=kalbajar").json()["results"]
    assert [(r["due_on"], r["overdue"], r["postponements"], r["handover"]["status"]) for r in rows] == [
        ("2020-11-15", False, [], "scheduled")
    ]
    rows = api.get("/api/v1/deadlines/?as_of=2020-11-19&district=agdam").json()["results"]
    assert [(r["due_on"], r["overdue"], r["handover"]["status"]) for r in rows] == [("2020-11-20", False, "scheduled")]


def test_the_api_event_list_as_of_a_day_stops_at_that_day(api, demo):
    dates = [e["date"] for e in api.get("/api/v1/events/?as_of=2020-11-16&page_size=500").json()["results"]]
    assert dates and max(dates) <= "2020-11-16"
    assert "2020-11-25" in [e["date"] for e in api.get("/api/v1/events/?page_size=500").json()["results"]]


def test_an_api_detail_after_the_day_is_not_found(api, demo):
    assert api.get("/api/v1/events/2020-11-25-army-enters-kalbajar/?as_of=2020-11-24").status_code == 404
    assert api.get("/api/v1/events/2020-11-25-army-enters-kalbajar/?as_of=2020-11-25").status_code == 200


@pytest.mark.parametrize("collection", ["events", "districts", "parties", "sources", "agreements", "deadlines",
                                        "handovers", "provisions"])
def test_a_malformed_as_of_is_a_400_naming_the_parameter(api, demo, collection):
    response = api.get(f"/api/v1/{collection}/?as_of=yesterday")
    assert response.status_code == 400
    assert response.json()["errors"] == {"as_of": ["Give the day as YYYY-MM-DD, e.g. 2020-11-26 (got 'yesterday')."]}


@pytest.mark.parametrize("collection", ["events", "agreements", "deadlines", "handovers", "provisions"])
def test_a_day_before_the_first_event_answers_an_empty_list(api, demo, collection):
    response = api.get(f"/api/v1/{collection}/?as_of=1800-01-01")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize("collection", ["events", "districts", "agreements", "deadlines", "handovers", "provisions"])
def test_as_of_adds_no_query_to_an_api_list(api, demo, collection, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as live:
        api.get(f"/api/v1/{collection}/")
    with django_assert_num_queries(len(live.captured_queries)):
        assert api.get(f"/api/v1/{collection}/?as_of=2020-11-16").status_code == 200
