"""Filters of districts, handovers and deadlines."""

import pytest

from timeline import services
from timeline.tests import factories

pytestmark = pytest.mark.django_db


def field(response, name):
    assert response.status_code == 200, response.content
    return [row[name] for row in response.json()["results"]]


@pytest.mark.parametrize("q", ["Kelbecer", "kəlbəcər", "karvachar", "KARVACHAR", "Кельбаджар", "кельбаджар", "Kalba"])
def test_district_search_finds_a_district_by_any_name_in_any_script(anon, world, q):
    assert field(anon.get("/api/v1/districts/", {"q": q}), "slug") == ["kalbajar"]


def test_district_search_without_a_match_is_an_empty_list(anon, world):
    assert field(anon.get("/api/v1/districts/?q=zzz"), "slug") == []


def test_districts_filter_by_parent(anon, world):
    factories.DistrictFactory(conflict=world.conflict, slug="kalbajar-town", parent=world.kalbajar, kind="town")
    assert field(anon.get("/api/v1/districts/?parent=kalbajar"), "slug") == ["kalbajar-town"]
    assert field(anon.get("/api/v1/districts/?kind=town"), "slug") == ["kalbajar-town"]


def test_handovers_filter_by_district_status_and_agreement(anon, world):
    assert field(anon.get("/api/v1/handovers/?district=agdam"), "id") == [world.agdam_handover.pk]
    assert field(anon.get("/api/v1/handovers/?status=completed"), "id") == [world.handover.pk]
    assert field(anon.get("/api/v1/handovers/?status=scheduled&status=completed"), "id") == [
        world.handover.pk, world.agdam_handover.pk]
    assert len(field(anon.get("/api/v1/handovers/?agreement=trilateral-statement"), "id")) == 2


def test_handovers_of_another_agreement_are_left_out(anon, world):
    other = factories.AgreementFactory(conflict=world.conflict, slug="other-deal")
    assert field(anon.get(f"/api/v1/handovers/?agreement={other.slug}"), "id") == []


def test_handovers_reject_an_unknown_district_or_status(anon, world):
    response = anon.get("/api/v1/handovers/?district=atlantis")
    assert response.status_code == 400
    assert "atlantis" in response.json()["errors"]["district"][0]
    assert list(anon.get("/api/v1/handovers/?status=lost").json()["errors"]) == ["status"]


def test_deadlines_filter_by_agreement_and_district(anon, world):
    assert field(anon.get("/api/v1/deadlines/?district=kalbajar"), "obligation") == ["Return of Kalbajar"]
    assert len(field(anon.get("/api/v1/deadlines/?agreement=trilateral-statement"), "id")) == 2


def test_overdue_deadlines_are_those_passed_without_a_completed_handover(anon, world):
    assert field(anon.get("/api/v1/deadlines/?overdue=true"), "obligation") == ["Return of Agdam"]
    assert field(anon.get("/api/v1/deadlines/?overdue=false"), "obligation") == ["Return of Kalbajar"]
    services.handover_complete(handover=world.agdam_handover, completed_on=world.agdam_handover.deadline.due_on)
    assert field(anon.get("/api/v1/deadlines/?overdue=true"), "obligation") == []


def test_overdue_takes_only_true_or_false(anon, world):
    response = anon.get("/api/v1/deadlines/?overdue=maybe")
    assert response.status_code == 400
    assert response.json()["errors"] == {"overdue": ["Give true or false (got 'maybe')."]}


def test_parties_and_sources_filter_by_kind(anon, world):
    assert field(anon.get("/api/v1/parties/?kind=mediator"), "slug") == ["russia"]
    assert field(anon.get("/api/v1/sources/?kind=official_text"), "slug") == ["statement-text"]
    assert field(anon.get("/api/v1/sources/?kind=news_report"), "slug") == []
