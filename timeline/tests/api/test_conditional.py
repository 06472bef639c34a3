"""ETags, 304 Not Modified, and If-Match against lost updates."""

import pytest

from timeline.models import Party
from timeline.tests import factories

pytestmark = pytest.mark.django_db

GETS = ["/api/v1/", "/api/v1/events/", "/api/v1/events/war-begins/", "/api/v1/districts/",
        "/api/v1/districts/kalbajar/", "/api/v1/parties/", "/api/v1/sources/", "/api/v1/agreements/",
        "/api/v1/deadlines/", "/api/v1/handovers/", "/api/v1/events/?format=csv", "/api/v1/districts/?format=geojson"]


@pytest.mark.parametrize("path", GETS)
def test_every_get_sends_an_etag_and_answers_if_none_match_with_304(anon, world, path):
    first = anon.get(path)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = anon.get(path, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag


def test_a_weak_or_listed_etag_also_matches(anon, world):
    etag = anon.get("/api/v1/parties/")["ETag"]
    assert anon.get("/api/v1/parties/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304


def test_the_list_etag_changes_when_a_record_changes(anon, world):
    etag = anon.get("/api/v1/parties/")["ETag"]
    # A save, as every write path does (a bare queryset.update() must bump the record version itself).
    russia = Party.objects.get(slug="russia")
    russia.name = "Russian Federation"
    russia.save()
    response = anon.get("/api/v1/parties/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag


def test_the_detail_etag_is_built_from_the_id_and_version(anon, world):
    party = Party.objects.get(slug="russia")
    response = anon.get("/api/v1/parties/russia/")
    assert response["ETag"].startswith(f'"{party.pk}-{party.version}-')
    assert response["Last-Modified"]


def test_the_detail_etag_changes_when_a_related_name_changes(anon, world):
    etag = anon.get("/api/v1/events/war-begins/")["ETag"]
    world.kalbajar.name = "Kalbajar district"
    world.kalbajar.save()
    assert anon.get("/api/v1/events/war-begins/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_a_change_without_if_match_is_a_428(editor, world):
    response = editor.patch("/api/v1/parties/russia/", {"short_name": "Moscow", "public_note": "Short name added."}, format="json")
    assert response.status_code == 428
    assert "If-Match" in response.json()["detail"]
    assert Party.objects.get(slug="russia").short_name == ""


def test_a_delete_without_if_match_is_a_428(editor, world):
    lonely = factories.PartyFactory(slug="lonely")
    assert editor.delete(f"/api/v1/parties/{lonely.slug}/").status_code == 428
    assert Party.objects.filter(slug="lonely").exists()


def test_a_change_based_on_a_stale_read_is_a_412_with_the_current_version(editor, world):
    path = "/api/v1/parties/russia/"
    first_read = editor.get(path)["ETag"]
    assert editor.patch(path, {"short_name": "Moscow", "public_note": "Short name added."}, format="json", HTTP_IF_MATCH=first_read).status_code == 200
    response = editor.patch(path, {"short_name": "Kremlin", "public_note": "Short name changed."}, format="json", HTTP_IF_MATCH=first_read)
    assert response.status_code == 412
    body = response.json()
    current = Party.objects.get(slug="russia")
    assert body["current_version"] == str(current.version)
    assert body["current_etag"] == editor.get(path)["ETag"]
    assert "changed since you read it" in body["detail"]
    assert current.short_name == "Moscow"


def test_a_delete_based_on_a_stale_read_is_a_412(editor, world):
    lonely = factories.PartyFactory(slug="lonely")
    path = f"/api/v1/parties/{lonely.slug}/"
    stale = editor.get(path)["ETag"]
    editor.patch(path, {"short_name": "L", "public_note": "Short name added."}, format="json", HTTP_IF_MATCH=stale)
    assert editor.delete(path, HTTP_IF_MATCH=stale).status_code == 412
    assert Party.objects.filter(slug="lonely").exists()


def test_a_write_racing_past_the_check_is_refused_by_the_service(editor, world, monkeypatch):
    """The version is checked again under a row lock inside the transaction."""
    from timeline.api import views

    path = "/api/v1/parties/russia/"
    etag = editor.get(path)["ETag"]
    original = views.ResourceViewSet.check_precondition

    def check_then_someone_else_saves(self, instance):
        expected = original(self, instance)
        Party.objects.get(pk=instance.pk).save()
        return expected

    monkeypatch.setattr(views.ResourceViewSet, "check_precondition", check_then_someone_else_saves)
    response = editor.patch(path, {"short_name": "Moscow", "public_note": "Short name added."}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 412
    assert Party.objects.get(slug="russia").short_name == ""


def test_if_match_star_accepts_any_current_version(editor, world):
    response = editor.patch("/api/v1/parties/russia/", {"short_name": "Moscow", "public_note": "Short name added."}, format="json", HTTP_IF_MATCH="*")
    assert response.status_code == 200
