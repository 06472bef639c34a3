"""The record clock and the anonymous response cache (timeline.cache).

Every test of the cache runs twice: with local memory, and with Redis at
``REDIS_TEST_URL`` (CI sets it; the Redis runs skip without it).
"""

import hashlib
import os
import re

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from timeline import cache, dataset, workflow
from timeline.models import Event, PublicationStatus, RecordClock
from timeline.tests import factories
from timeline.tests.api.conftest import build_world
from timeline.tests.workflow_roles import user_in

pytestmark = pytest.mark.django_db

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "")


@pytest.fixture(params=["locmem", "redis"], autouse=True)
def backend(request):
    """The response cache on each backend it runs on in production."""
    if request.param == "locmem":
        yield request.param
        return
    if not REDIS_TEST_URL:
        pytest.skip("REDIS_TEST_URL is not set (CI sets redis://127.0.0.1:6379/15): the Redis run needs a server")
    redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_TEST_URL,
             "KEY_PREFIX": "responses-test", "TIMEOUT": 300}
    with override_settings(CACHES={**settings.CACHES, cache.CACHE_ALIAS: redis}):
        caches[cache.CACHE_ALIAS].clear()
        yield request.param
        caches[cache.CACHE_ALIAS].clear()


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def administrator(db):
    """A reviewer who may publish their own changes (no four eyes in the way of these tests)."""
    return user_in("Administrators", "ada")


def version() -> int:
    return cache.current()[0]


# --------------------------------------------------------------------------
# The record clock
# --------------------------------------------------------------------------


def test_a_save_moves_the_record_version():
    before = version()
    factories.PartyFactory()
    assert version() > before


def test_a_transaction_moves_the_version_once_however_many_rows_it_writes():
    before = version()
    with transaction.atomic():
        for _ in range(5):
            factories.PartyFactory()
    assert version() == before + 1


def test_a_read_of_the_version_between_two_changes_lets_the_second_move_it_again():
    with transaction.atomic():
        factories.PartyFactory()
        seen = version()
        factories.PartyFactory()
        assert version() == seen + 1


def test_a_rolled_back_savepoint_takes_its_bump_with_it_and_the_next_change_bumps_again():
    before = version()
    with transaction.atomic():
        try:
            with transaction.atomic():
                factories.PartyFactory()
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        factories.PartyFactory()
    assert version() == before + 1


def test_a_many_to_many_change_moves_the_version():
    event, district = factories.EventFactory(), factories.DistrictFactory()
    before = version()
    event.districts.add(district)
    assert version() == before + 1


def test_a_delete_moves_the_version():
    party = factories.PartyFactory()
    before = version()
    party.delete()
    assert version() == before + 1


def test_the_clock_row_is_created_again_when_missing():
    RecordClock.objects.all().delete()
    assert cache.current() == (0, None)
    cache.bump()
    assert version() == 1


def test_a_dataset_import_moves_the_version_though_its_bulk_writes_send_no_signal():
    before = version()
    dataset.load_text(dataset.dumps())  # the (empty) record imported again: nothing else is written
    assert version() == before + 1


# --------------------------------------------------------------------------
# Cached anonymous answers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/v1/events/", "/api/v1/events/war-begins/", "/api/v1/districts/?format=geojson",
                                 "/", "/events/war-begins/", "/feeds/events.atom", "/sitemap.xml"])
def test_a_second_anonymous_read_is_answered_from_the_cache_after_one_query(world, anon, django_assert_num_queries, url):
    first = anon.get(url)
    assert first.status_code == 200
    with django_assert_num_queries(1):  # the record clock
        second = anon.get(url)
    assert second.status_code == 200
    assert second.content == first.content
    assert second["ETag"] == first["ETag"]
    assert second["Content-Type"] == first["Content-Type"]


def test_an_anonymous_list_is_tagged_from_the_cache_key_not_from_its_body(world, anon):
    response = anon.get("/api/v1/events/")
    assert re.fullmatch(r'"[0-9a-f]{32}"', response["ETag"])
    assert response["ETag"] != cache.body_etag(response.content)
    assert response["Cache-Control"] == "no-cache"


def test_an_anonymous_detail_keeps_its_record_etag(world, anon):
    event = Event.objects.get(slug="war-begins")
    assert anon.get("/api/v1/events/war-begins/")["ETag"].startswith(f'"{event.pk}-{event.version}-')


@pytest.mark.parametrize("url", ["/api/v1/events/", "/api/v1/events/war-begins/", "/", "/feeds/events.atom"])
def test_if_none_match_is_a_304_after_one_query(world, anon, django_assert_num_queries, url):
    etag = anon.get(url)["ETag"]
    with django_assert_num_queries(1):
        response = anon.get(url, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_a_304_after_the_entry_is_gone_still_costs_one_query(world, anon, django_assert_num_queries):
    """The list's tag is the key itself: no stored answer is needed to say it is current."""
    etag = anon.get("/api/v1/events/")["ETag"]
    caches[cache.CACHE_ALIAS].clear()
    with django_assert_num_queries(1):
        assert anon.get("/api/v1/events/", HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_cached_page_gets_the_same_content_security_policy_as_a_fresh_one(world, anon):
    fresh = anon.get("/")
    cached = anon.get("/")
    assert "style-src-attr 'unsafe-inline'" in fresh["Content-Security-Policy"]
    assert cached["Content-Security-Policy"] == fresh["Content-Security-Policy"]


def test_a_cached_answer_is_stamped_with_the_moment_it_is_given(world, anon):
    """Nothing changed since it was stored (the version did not move), so it reflects the record now."""
    first = anon.get("/api/v1/events/")
    again = anon.get("/api/v1/events/")
    assert again.content == first.content
    assert again["X-Record-Time"] > first["X-Record-Time"]


def test_a_cached_answer_at_known_at_keeps_that_moment(world, anon):
    moment = "2020-11-26T12:00:00.000000Z"
    anon.get(f"/api/v1/events/?known_at={moment}")
    assert anon.get(f"/api/v1/events/?known_at={moment}")["X-Record-Time"] == moment


def test_a_new_day_is_a_new_answer(world, anon, django_assert_num_queries, monkeypatch):
    """Overdue deadlines and days late are counted from today, without any write."""
    import datetime as dt

    anon.get("/api/v1/deadlines/")
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    monkeypatch.setattr(cache.timezone, "localdate", lambda *args, **kwargs: tomorrow)
    with CaptureQueriesContext(connection) as queries:
        assert anon.get("/api/v1/deadlines/").status_code == 200
    assert len(queries) > 1  # the clock, then the view again


# --------------------------------------------------------------------------
# A change is seen at once
# --------------------------------------------------------------------------

def read_everything(client, slug):
    """The anonymous reads a change must reach: the list, the detail, a page and the Atom feed."""
    return {
        "list": client.get("/api/v1/events/").content.decode(),
        "detail": client.get(f"/api/v1/events/{slug}/"),
        "page": client.get(f"/events/{slug}/"),
        "home": client.get("/").content.decode(),
        "feed": client.get("/feeds/events.atom").content.decode(),
    }


def test_a_published_event_is_in_the_next_anonymous_read(world, anon, administrator):
    draft = factories.EventFactory(conflict=world.conflict, slug="ceasefire", title="Ceasefire agreed",
                                   publication_status=PublicationStatus.DRAFT)
    before = read_everything(anon, "ceasefire")
    assert "Ceasefire agreed" not in before["list"] + before["home"] + before["feed"]
    assert before["detail"].status_code == before["page"].status_code == 404

    workflow.publish(record=draft, user=administrator)

    after = read_everything(anon, "ceasefire")
    assert "Ceasefire agreed" in after["list"]
    assert "Ceasefire agreed" in after["home"]
    assert "Ceasefire agreed" in after["feed"]
    assert after["detail"].status_code == 200 and after["detail"].json()["title"] == "Ceasefire agreed"
    assert after["page"].status_code == 200 and "Ceasefire agreed" in after["page"].content.decode()


def test_a_corrected_event_shows_the_correction_in_the_next_anonymous_read(world, anon, administrator):
    read_everything(anon, "war-begins")
    read_everything(anon, "war-begins")  # now from the cache

    workflow.correct(record=world.editorial, user=administrator, fields={"title": "War breaks out"},
                     note="The title was imprecise.")

    after = read_everything(anon, "war-begins")
    assert "War breaks out" in after["list"] and "War begins" not in after["list"]
    assert "War breaks out" in after["home"]
    assert "War breaks out" in after["feed"]
    assert after["detail"].json()["title"] == "War breaks out"
    page = after["page"].content.decode()
    assert "War breaks out" in page and "The title was imprecise." in page


def test_a_withdrawn_event_is_gone_from_the_next_anonymous_read(world, anon, administrator):
    before = read_everything(anon, "war-begins")
    assert "War begins" in before["list"] and before["detail"].status_code == 200

    workflow.withdraw(record=world.editorial, user=administrator, note="It was a duplicate.")

    after = read_everything(anon, "war-begins")
    assert "War begins" not in after["list"]
    assert "War begins" not in after["home"]
    assert "War begins" not in after["feed"]
    assert after["detail"].status_code == 404
    assert after["page"].status_code == 410 and "It was a duplicate." in after["page"].content.decode()


def test_a_304_is_not_given_for_a_tag_of_before_the_change(world, anon, administrator):
    etag = anon.get("/api/v1/events/")["ETag"]
    workflow.correct(record=world.editorial, user=administrator, fields={"title": "War breaks out"},
                     note="The title was imprecise.")
    response = anon.get("/api/v1/events/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert "War breaks out" in response.content.decode()


# --------------------------------------------------------------------------
# What is never shared
# --------------------------------------------------------------------------


def test_staff_with_a_token_never_get_a_cached_answer(world, anon, django_assert_num_queries):
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user_in('Editors', 'edna')).key}")
    anon.get("/api/v1/events/")
    staff.get("/api/v1/events/")
    # A write that (wrongly) moves no version: only a cached answer could still show the old title.
    Event.objects.filter(pk=world.editorial.pk).update(title="Changed behind the cache's back")
    assert "Changed behind the cache's back" not in anon.get("/api/v1/events/").content.decode()
    answer = staff.get("/api/v1/events/")
    assert "Changed behind the cache's back" in answer.content.decode()
    assert answer["ETag"] == cache.body_etag(answer.content)  # the API's own digest, as before


def test_a_signed_in_staff_member_never_gets_a_cached_page(world, client, administrator):
    client.get("/")
    client.force_login(administrator)
    Event.objects.filter(pk=world.editorial.pk).update(title="Changed behind the cache's back")
    assert "Changed behind the cache&#x27;s back" in client.get("/").content.decode()  # the entry's title, escaped


def counting_view(request):
    counting_view.calls += 1
    response = HttpResponse(f"call {counting_view.calls}")
    if request.GET.get("cookie"):
        response.set_cookie("flavour", "plain")
    if request.GET.get("private"):
        response["Cache-Control"] = "private"
    return response


counting_view.calls = 0
urlpatterns = [path("", include(([path("counted/", counting_view, name="counted")], "timeline")))]


@pytest.mark.parametrize("query", ["cookie=1", "private=1"])
@override_settings(ROOT_URLCONF=__name__)
def test_an_answer_that_sets_a_cookie_or_is_private_is_not_cached(anon, query):
    first = anon.get(f"/counted/?{query}")
    assert anon.get(f"/counted/?{query}").content != first.content  # the view answered again


@override_settings(ROOT_URLCONF=__name__)
def test_a_plain_answer_of_the_same_view_is_cached(anon):
    first = anon.get("/counted/")
    assert anon.get("/counted/").content == first.content


def test_the_browsable_api_holds_a_csrf_token_and_is_not_cached(world, anon):
    anon.get("/api/v1/events/", HTTP_ACCEPT="text/html")
    with CaptureQueriesContext(connection) as queries:
        response = anon.get("/api/v1/events/", HTTP_ACCEPT="text/html")
    assert response["Content-Type"].startswith("text/html")
    assert len(queries) > 1  # the view ran again


@pytest.mark.parametrize("name", ["admin:index", "admin:login", "timeline:healthz", "timeline:release-list", "api:token"])
def test_the_admin_the_health_check_releases_and_tokens_are_never_cached(rf, name):
    assert cache.PublicResponseCacheMiddleware(lambda request: None)._plan(rf.get(reverse(name))) is None


def test_a_public_page_is_cached_for_a_reader_without_credentials_only(rf, settings):
    middleware = cache.PublicResponseCacheMiddleware(lambda request: None)
    assert middleware._plan(rf.get("/districts/")) is not None
    assert middleware._plan(rf.get("/districts/", HTTP_AUTHORIZATION="Token abc")) is None
    signed_in = rf.get("/districts/")
    signed_in.COOKIES[settings.SESSION_COOKIE_NAME] = "a-session"
    assert middleware._plan(signed_in) is None


# --------------------------------------------------------------------------
# Variants and settings
# --------------------------------------------------------------------------


def test_json_csv_and_geojson_of_one_list_are_never_mixed(world, anon):
    answers = {}
    for name, url, headers in [
        ("json", "/api/v1/districts/", {}),
        ("csv", "/api/v1/districts/?format=csv", {}),
        ("geojson", "/api/v1/districts/?format=geojson", {}),
        ("csv by Accept", "/api/v1/districts/", {"HTTP_ACCEPT": "text/csv"}),
        ("json again", "/api/v1/districts/", {}),
    ]:
        anon.get(url, **headers)
        answers[name] = anon.get(url, **headers)  # the cached answer of each variant
    assert answers["json"]["Content-Type"] == "application/json"
    assert answers["csv"]["Content-Type"].startswith("text/csv")
    assert answers["geojson"]["Content-Type"].startswith("application/geo+json")
    assert answers["csv by Accept"]["Content-Type"].startswith("text/csv")
    assert answers["json again"].content == answers["json"].content
    assert len({answers[name]["ETag"] for name in ("json", "csv", "geojson", "csv by Accept")}) == 4


def test_each_host_gets_its_own_absolute_addresses(world, anon):
    anon.get("/api/v1/events/")
    other = anon.get("/api/v1/events/", HTTP_HOST="localhost")
    assert "http://localhost/events/war-begins/" in other.content.decode()


def test_query_parameters_in_another_order_share_an_answer(world, anon, django_assert_num_queries):
    anon.get("/api/v1/events/?kind=military&page_size=5")
    with django_assert_num_queries(1):
        assert anon.get("/api/v1/events/?page_size=5&kind=military").status_code == 200


@override_settings(TIMELINE_RESPONSE_CACHE=False)
def test_with_the_setting_off_every_read_runs_the_view_and_lists_carry_a_digest(world, anon):
    anon.get("/api/v1/events/")
    with CaptureQueriesContext(connection) as queries:
        response = anon.get("/api/v1/events/")
    assert queries.captured_queries and not any("recordclock" in q["sql"] for q in queries.captured_queries)
    assert response["ETag"] == f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'
