"""Anonymous reads from PostgreSQL replicas (conflict/db_routers.py, ReplicaReadsMiddleware).

The first part always runs. Its "replica" is a second database alias on the test database itself
(a second connection to the same data: a replica with no lag), so that routing is observed on
real connections: which alias ran the statements of a request.

The last part runs against a real streaming replica when ``REPLICA_TEST_URL`` names one
(``postgres://postgres@127.0.0.1:5433``, as ``python -m bench.replica start`` makes it) and
``DATABASE_URL`` its primary; ``make replica-check`` does both.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import OperationalError, connections, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from rest_framework.authtoken.models import Token

from conflict import db_routers
from conflict.middleware import ReplicaReadsMiddleware
from timeline.models import Event, Party
from timeline.tests import factories

REPLICA = "replica_test"


def add_alias(alias: str, **changes) -> None:
    """A connection like the test database's ``default`` (with ``changes`` to its settings) as ``alias``.

    Made with ``connection.copy()``, Django's way to a second connection in a test: the test
    case allows it, where it refuses aliases of settings.DATABASES that it was not told about.
    """
    copy = connections["default"].copy(alias)
    copy.settings_dict.update(changes)
    connections[alias] = copy


def remove_alias(alias: str) -> None:
    with contextlib.suppress(AttributeError):
        connections[alias].close()
        del connections[alias]


@contextmanager
def replicas(*aliases: str, **changes):
    """Replicas named ``aliases`` on the test database, routed to as settings.DATABASE_REPLICAS."""
    for alias in aliases:
        add_alias(alias, **changes)
    db_routers.forget_failures()
    try:
        with override_settings(DATABASE_REPLICAS=list(aliases)):
            yield
    finally:
        db_routers.forget_failures()
        for alias in aliases:
            remove_alias(alias)


@pytest.fixture
def replica(db):
    with replicas(REPLICA):
        yield REPLICA


def unreachable() -> dict:
    """Settings of a database that refuses connections, for the test database's engine."""
    if connections["default"].vendor == "postgresql":
        return {"HOST": "127.0.0.1", "PORT": 9}  # discard: nothing listens there
    return {"NAME": "/nonexistent-directory/replica.sqlite3"}


def statements_per_alias(send, replica_alias=REPLICA):
    """(response, {alias: statements}) for ``send()``, a request through the whole stack."""
    counts = dict.fromkeys(["default", replica_alias], 0)

    def counter(alias):
        def wrapper(execute, sql, params, many, context):
            counts[alias] += 1
            return execute(sql, params, many, context)

        return wrapper

    with ExitStack() as stack:
        for alias in counts:
            stack.enter_context(connections[alias].execute_wrapper(counter(alias)))
        response = send()
    return response, counts


def staff_token(username="editor") -> str:
    user = factories.UserFactory(username=username, is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="timeline"))
    user.groups.add(Group.objects.get_or_create(name="Administrators")[0])
    return Token.objects.get_or_create(user=user)[0].key


# --------------------------------------------------------------------------
# The router's decisions
# --------------------------------------------------------------------------


@override_settings(DATABASE_REPLICAS=[])
def test_without_replicas_the_router_leaves_every_choice_to_django():
    rules = db_routers.ReplicaRouter()
    with db_routers.anonymous_reads():
        assert rules.db_for_read(Event) is None
        assert rules.db_for_write(Event) is None
    assert rules.allow_migrate("default", "timeline") is None
    assert rules.allow_relation(Event(), Party()) is None


def test_reads_outside_a_request_go_to_the_primary(replica):
    # Management commands, migrations, imports and tests have no request.
    assert router.db_for_read(Event) == "default"


def test_an_anonymous_read_request_reads_the_replica(replica):
    with db_routers.anonymous_reads():
        assert router.db_for_read(Event) == REPLICA


def test_writes_go_to_the_primary_even_in_an_anonymous_read_request(replica):
    with db_routers.anonymous_reads():
        assert router.db_for_write(Event) == "default"


def test_after_a_write_the_rest_of_the_request_reads_the_primary(replica):
    with db_routers.anonymous_reads():
        router.db_for_write(Event)
        assert router.db_for_read(Event) == "default"


def test_reads_inside_a_transaction_read_the_primary(replica):
    with db_routers.anonymous_reads(), transaction.atomic():
        assert router.db_for_read(Event) == "default"


def test_one_replica_serves_the_whole_request(db):
    with replicas("replica_a", "replica_b"):
        chosen = set()
        for _ in range(40):
            with db_routers.anonymous_reads():
                first = router.db_for_read(Event)
                assert {router.db_for_read(model) for model in (Event, Party, Event)} == {first}
                chosen.add(first)
    # The requests are spread over both (the chance of 40 picks landing on one is 2**-39).
    assert chosen == {"replica_a", "replica_b"}


def test_migrations_run_on_the_primary_only(replica):
    assert router.allow_migrate(REPLICA, "timeline", model_name="event") is False
    assert router.allow_migrate("default", "timeline", model_name="event") is True


def test_records_read_from_a_replica_may_be_related_to_records_from_the_primary(replica):
    district, event = factories.DistrictFactory.build(), factories.EventFactory.build()
    district._state.db, event._state.db = REPLICA, "default"
    assert router.allow_relation(district, event) is True


def test_a_replica_that_refuses_connections_sends_reads_to_the_primary(db):
    with replicas("replica_dead", **unreachable()), db_routers.anonymous_reads():
        assert router.db_for_read(Event) == "default"
        assert db_routers.is_down("replica_dead")


def test_a_failed_replica_is_tried_again_only_after_the_retry_time(db, monkeypatch):
    with replicas("replica_flaky", **unreachable()):
        with db_routers.anonymous_reads():
            router.db_for_read(Event)
        # It comes back; within DATABASE_REPLICA_RETRY_SECONDS it is not asked again...
        remove_alias("replica_flaky")
        add_alias("replica_flaky")
        with db_routers.anonymous_reads():
            assert router.db_for_read(Event) == "default"
        # ...after them it is.
        later = time.monotonic() + settings.DATABASE_REPLICA_RETRY_SECONDS + 1
        monkeypatch.setattr(db_routers.time, "monotonic", lambda: later)
        with db_routers.anonymous_reads():
            assert router.db_for_read(Event) == "replica_flaky"


# --------------------------------------------------------------------------
# Which requests are anonymous reads
# --------------------------------------------------------------------------


def routing_seen_by_the_view(request) -> object:
    """What a view of ``request`` sees: its ReadState, or None (the primary)."""
    seen = []
    middleware = ReplicaReadsMiddleware(lambda req: seen.append(db_routers.current_state()) or HttpResponse())
    middleware(request)
    return seen[0]


def anonymous(request):
    request.user = AnonymousUser()
    return request


@pytest.mark.parametrize("method", ["get", "head"])
def test_an_anonymous_get_or_head_is_an_anonymous_read(replica, method):
    assert routing_seen_by_the_view(anonymous(getattr(RequestFactory(), method)("/api/v1/events/"))) is not None


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_use_the_primary(replica, method):
    assert routing_seen_by_the_view(anonymous(getattr(RequestFactory(), method)("/api/v1/events/"))) is None


def test_a_request_with_an_api_token_uses_the_primary(replica):
    # DRF only authenticates the token in the view, so the header alone decides.
    request = anonymous(RequestFactory().get("/api/v1/events/", HTTP_AUTHORIZATION="Token abc"))
    assert routing_seen_by_the_view(request) is None


def test_a_signed_in_user_uses_the_primary(replica, staff_user):
    request = RequestFactory().get("/")
    request.user = staff_user
    assert routing_seen_by_the_view(request) is None


def test_a_request_with_a_session_cookie_uses_the_primary_without_loading_the_session(replica):
    # As the response cache decides: an editor's browser, signed in or about to be, never shares.
    request = RequestFactory().get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = "abc"
    request.user = AnonymousUser()
    assert routing_seen_by_the_view(request) is None


@override_settings(DATABASE_REPLICAS=[])
def test_without_replicas_no_request_is_marked():
    assert routing_seen_by_the_view(anonymous(RequestFactory().get("/"))) is None


def test_the_routing_ends_with_the_request(replica):
    routing_seen_by_the_view(anonymous(RequestFactory().get("/")))
    assert db_routers.current_state() is None


def test_a_worker_thread_does_not_carry_an_anonymous_request_into_the_next(replica, staff_user):
    # gunicorn's gthread worker serves one request after another on the same threads.
    staff_request = RequestFactory().get("/")
    staff_request.user = staff_user
    with ThreadPoolExecutor(max_workers=1) as thread:
        assert thread.submit(routing_seen_by_the_view, anonymous(RequestFactory().get("/"))).result() is not None
        assert thread.submit(routing_seen_by_the_view, staff_request).result() is None


def test_concurrent_threads_do_not_see_each_others_routing(replica, staff_user):
    anonymous_inside, staff_done = threading.Event(), threading.Event()
    seen = {}

    def anonymous_view(request):
        anonymous_inside.set()
        staff_done.wait(5)
        seen["anonymous"] = db_routers.current_state()
        return HttpResponse()

    def staff_view(request):
        anonymous_inside.wait(5)
        seen["staff"] = db_routers.current_state()
        staff_done.set()
        return HttpResponse()

    staff_request = RequestFactory().get("/")
    staff_request.user = staff_user
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(ReplicaReadsMiddleware(anonymous_view), anonymous(RequestFactory().get("/")))
        second = pool.submit(ReplicaReadsMiddleware(staff_view), staff_request)
        first.result(), second.result()
    assert seen["anonymous"] is not None
    assert seen["staff"] is None


# --------------------------------------------------------------------------
# Whole requests (data committed where the replica's connection must see it)
# --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_api_request_runs_every_statement_on_the_replica(replica, client):
    """The response cache's record-clock read included: clock and data from one server, so an
    answer is never cached under a newer version than its data (a lagging replica's)."""
    factories.EventFactory.create_batch(3)

    response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"))

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert counts[REPLICA] > 0
    assert counts["default"] == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/", "/feeds/events.atom"])
def test_an_anonymous_page_runs_every_statement_on_the_replica(replica, client, path):
    factories.EventFactory.create_batch(2)

    response, counts = statements_per_alias(lambda: client.get(path))

    assert response.status_code == 200
    assert counts[REPLICA] > 0
    assert counts["default"] == 0


def test_a_staff_api_request_runs_every_statement_on_the_primary(replica, client):
    factories.EventFactory.create_batch(3)
    token = staff_token()

    response, counts = statements_per_alias(lambda: client.get("/api/v1/events/", HTTP_AUTHORIZATION=f"Token {token}"))

    assert response.status_code == 200
    assert counts["default"] > 0
    assert counts[REPLICA] == 0


def test_a_signed_in_editor_reads_the_public_pages_from_the_primary(replica, client, staff_user):
    factories.EventFactory.create_batch(2)
    client.force_login(staff_user)

    response, counts = statements_per_alias(lambda: client.get("/"))

    assert response.status_code == 200
    assert counts[REPLICA] == 0


def failing(alias: str, error: OperationalError, *, connection_lost: bool, monkeypatch):
    """An execute wrapper for ``alias`` whose statements on timeline_event fail with ``error``.

    With ``connection_lost`` every later statement fails too and the connection answers no
    health check, as when the server went away; otherwise only that one statement fails (a
    cancelled query on a healthy connection).
    """
    failed = []

    def wrapper(execute, sql, params, many, context):
        if failed and connection_lost or not failed and "timeline_event" in sql:
            failed.append(sql)
            if connection_lost:
                monkeypatch.setattr(connections[alias], "is_usable", lambda: False)
            raise error
        return execute(sql, params, many, context)

    return wrapper


@pytest.mark.django_db(transaction=True)
def test_a_replica_lost_in_the_middle_of_a_request_is_answered_from_the_primary(replica, client, monkeypatch):
    factories.EventFactory.create_batch(2)
    lost = failing(REPLICA, OperationalError("server closed the connection unexpectedly"),
                   connection_lost=True, monkeypatch=monkeypatch)

    with connections[REPLICA].execute_wrapper(lost):
        response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"))

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert counts["default"] > 0
    assert db_routers.is_down(REPLICA)


class PgError(Exception):
    """What psycopg2 puts under Django's OperationalError: the server's SQLSTATE in ``pgcode``."""

    def __init__(self, pgcode):
        super().__init__(pgcode)
        self.pgcode = pgcode


def server_error(sqlstate: str) -> OperationalError:
    error = OperationalError(f"SQLSTATE {sqlstate}")
    error.__cause__ = PgError(sqlstate)
    return error


@pytest.mark.django_db(transaction=True)
def test_a_query_cancelled_by_a_recovery_conflict_is_answered_from_the_primary(replica, client, monkeypatch):
    factories.EventFactory.create_batch(2)
    conflict = failing(REPLICA, server_error(db_routers.RECOVERY_CONFLICT), connection_lost=False,
                       monkeypatch=monkeypatch)

    with connections[REPLICA].execute_wrapper(conflict):
        response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"))

    assert response.status_code == 200
    assert counts["default"] > 0
    assert not db_routers.is_down(REPLICA)  # the replica itself is fine


@pytest.mark.django_db(transaction=True)
def test_a_statement_timeout_on_the_replica_is_not_run_again_on_the_primary(replica, client, monkeypatch):
    # The primary would take as long: the reader gets the usual 503, the primary no extra load.
    timeout = failing(REPLICA, server_error("57014"), connection_lost=False, monkeypatch=monkeypatch)

    with connections[REPLICA].execute_wrapper(timeout):
        response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"))

    assert response.status_code == 503
    assert counts["default"] == 0


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def settings_with(**env) -> subprocess.CompletedProcess:
    """DATABASES and DATABASE_REPLICAS of conflict.settings in a fresh interpreter with ``env``."""
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps({'replicas': settings.DATABASE_REPLICAS, 'databases': settings.DATABASES}, default=str))")
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    full_env.update(DJANGO_SETTINGS_MODULE="conflict.settings", DJANGO_DEBUG="1", **env)
    return subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=full_env,  # noqa: S603
                          capture_output=True, text=True, timeout=60, check=False)


def test_each_replica_url_becomes_an_alias_with_the_primarys_options():
    result = settings_with(
        DATABASE_URL="postgres://app@db.internal:5432/timeline",
        DATABASE_REPLICA_URLS="postgres://app@replica-a:5432/timeline, postgres://app@replica-b:6432/timeline",
        DATABASE_STATEMENT_TIMEOUT_MS="3000",
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["replicas"] == ["replica_1", "replica_2"]
    second = found["databases"]["replica_2"]
    assert (second["HOST"], second["PORT"], second["NAME"]) == ("replica-b", 6432, "timeline")
    assert second["OPTIONS"] == {"options": "-c statement_timeout=3000", "connect_timeout": 2}
    assert second["CONN_HEALTH_CHECKS"] is True
    assert second["TEST"]["MIRROR"] == "default"


def test_server_side_cursors_can_be_turned_off_everywhere_for_pgbouncer():
    result = settings_with(
        DATABASE_URL="postgres://app@pgbouncer:6432/timeline",
        DATABASE_REPLICA_URLS="postgres://app@pgbouncer-replica:6432/timeline",
        DATABASE_DISABLE_SERVER_SIDE_CURSORS="1",
    )
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout.strip().splitlines()[-1])["databases"]
    assert databases["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert databases["replica_1"]["DISABLE_SERVER_SIDE_CURSORS"] is True


def test_without_replica_urls_there_is_only_the_primary():
    result = settings_with(DATABASE_URL="postgres://app@db.internal:5432/timeline")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["replicas"] == []
    assert list(found["databases"]) == ["default"]


@pytest.mark.parametrize(("primary", "replica_url", "message"), [
    ("postgres://app@db/timeline", "not a url", "DATABASE_REPLICA_URLS entry 1 is not a database URL"),
    ("postgres://app@db/timeline", "mysql://app@replica/timeline", "must be a postgres:// URL"),
    ("sqlite:///tmp/db.sqlite3", "postgres://app@replica/timeline", "DATABASE_URL a PostgreSQL primary"),
])
def test_a_replica_url_that_cannot_be_a_streaming_replica_stops_the_start_up(primary, replica_url, message):
    result = settings_with(DATABASE_URL=primary, DATABASE_REPLICA_URLS=replica_url)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# --------------------------------------------------------------------------
# Against a real streaming replica (REPLICA_TEST_URL)
# --------------------------------------------------------------------------

REPLICA_TEST_URL = os.environ.get("REPLICA_TEST_URL", "")
needs_replica = pytest.mark.skipif(
    not REPLICA_TEST_URL or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="REPLICA_TEST_URL (a streaming replica of DATABASE_URL's PostgreSQL) is not set: "
           "`make replica-check` runs these, or start one with `python -m bench.replica start` and set "
           "REPLICA_TEST_URL=postgres://postgres@127.0.0.1:5433",
)
STANDBY = "replica_standby"


def primary_wal_position() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        return cursor.fetchone()[0]


def wait_until_replayed(position: str, timeout: float = 10.0) -> float:
    """Seconds until the standby has replayed the primary's WAL up to ``position``."""
    began = time.monotonic()
    with connections[STANDBY].cursor() as cursor:
        while time.monotonic() - began < timeout:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            if cursor.fetchone()[0]:
                return time.monotonic() - began
            time.sleep(0.001)
    raise AssertionError(f"The standby had not replayed {position} after {timeout} s")


@pytest.fixture
def standby(transactional_db):
    """The real standby as a replica alias, on the test database (replicated like any other)."""
    parts = urlsplit(REPLICA_TEST_URL)
    with replicas(STANDBY, HOST=parts.hostname, PORT=parts.port or 5432, USER=parts.username or "postgres",
                  PASSWORD=parts.password or ""):
        yield STANDBY


@needs_replica
def test_the_standby_is_a_server_in_recovery(standby):
    with connections[STANDBY].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), inet_server_port()")
        in_recovery, port = cursor.fetchone()
    assert in_recovery is True
    assert port == (urlsplit(REPLICA_TEST_URL).port or 5432)


@needs_replica
def test_an_anonymous_request_reads_the_standby(standby, client):
    factories.EventFactory.create_batch(3)
    wait_until_replayed(primary_wal_position())

    response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"), STANDBY)

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert counts[STANDBY] > 0
    assert counts["default"] == 0


@needs_replica
def test_staff_read_their_write_at_once_and_anonymous_readers_after_replication(standby, client):
    party = factories.PartyFactory(slug="mediator")
    token = staff_token()
    wait_until_replayed(primary_wal_position())
    staff = {"HTTP_AUTHORIZATION": f"Token {token}"}

    written = client.patch("/api/v1/parties/mediator/", {"short_name": "OSCE", "public_note": "Short name added."},
                           content_type="application/json", HTTP_IF_MATCH="*", **staff)
    staff_read, staff_counts = statements_per_alias(lambda: client.get("/api/v1/parties/mediator/", **staff), STANDBY)

    assert written.status_code == 200
    assert staff_read.json()["short_name"] == "OSCE"
    assert staff_counts[STANDBY] == 0
    began = time.monotonic()
    while client.get("/api/v1/parties/mediator/").json()["short_name"] != "OSCE":
        assert time.monotonic() - began < 10, "the standby never showed the write"
        time.sleep(0.001)
    assert Party.objects.using(STANDBY).get(pk=party.pk).short_name == "OSCE"


@needs_replica
def test_a_standby_connection_cut_mid_request_is_answered_from_the_primary(standby, client):
    factories.EventFactory.create_batch(2)
    wait_until_replayed(primary_wal_position())
    killed = []

    def terminate_own_backend(execute, sql, params, many, context):
        if not killed:
            import psycopg2

            pid = connections[STANDBY].connection.get_backend_pid()
            parts = urlsplit(REPLICA_TEST_URL)
            killer = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
                                      password=parts.password or None, dbname="postgres")
            killer.autocommit = True
            with killer.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            killer.close()
            killed.append(pid)
        return execute(sql, params, many, context)

    with connections[STANDBY].execute_wrapper(terminate_own_backend):
        response, counts = statements_per_alias(lambda: client.get("/api/v1/events/"), STANDBY)

    assert killed
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert counts["default"] > 0
    assert db_routers.is_down(STANDBY)
