"""The demo dataset, loaded by the importer, as the API reports it."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from timeline import selectors

pytestmark = pytest.mark.django_db

DEMO = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"


@pytest.fixture
def demo(db):
    call_command("import_timeline", str(DEMO), stdout=io.StringIO())


def test_the_api_reports_kalbajars_handover_from_the_demo_dataset(anon, demo):
    response = anon.get("/api/v1/handovers/?district=kalbajar")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["district"]["slug"] == "kalbajar"
    assert (row["from_party"]["slug"], row["to_party"]["slug"]) == ("armenia", "azerbaijan")
    assert (row["original_due_on"], row["due_on"], row["completed_on"]) == ("2020-11-15", "2020-11-25", "2020-11-25")
    assert (row["status"], row["delay_days"]) == ("completed", 10)
    assert [p["to_date"] for p in row["postponements"]] == ["2020-11-25"]
    assert row["agreement"]["slug"] == "trilateral-statement-november-2020"
    assert row["delay_days"] == selectors.handover_list().get(district__slug="kalbajar").delay_days


def test_kalbajar_is_found_by_its_other_names_in_the_demo_dataset(anon, demo):
    for q in ("Kelbecer", "karvachar", "Кельбаджар"):
        assert [d["slug"] for d in anon.get("/api/v1/districts/", {"q": q}).json()["results"]] == ["kalbajar"], q
