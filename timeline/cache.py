"""What anonymous readers get, cached and revalidated against one record version.

The record clock
----------------
``RecordClock`` is one row whose ``version`` moves whenever the record
changes. ``bump()`` moves it inside the writer's transaction, so the change
and the new version commit together: a reader who sees the old version reads
data at least as new as that version (it reads the clock first), and from the
moment the change is visible every reader sees the new version. Signals bump
it on every save, delete and many-to-many change of a ``timeline`` model (not
the history tables, not the clock itself); the bulk paths that skip signals
(``dataset.load``, ``synthetic``'s COPY and ``bulk_create``, ``queryset.update()``
in the services) call ``bump()`` themselves.

One write a transaction, not one a row: the first ``bump()`` of a transaction
moves the version and leaves a no-op ``on_commit`` marker; later ones see the
marker still pending and do nothing. (PostgreSQL has to walk the chain of row
versions a transaction left on a row it updates again, so 10,000 updates of the
clock in one import took 3 s, against 0.1 ms for one.) A rolled-back
transaction or savepoint drops the marker with its bump, so the next change
bumps again. A read of the clock (``current()``) on the same connection clears
the marker too: the only readers of an uncommitted version are that
connection's (tests run each test in one transaction), and each must see the
version move after any later change.

The response cache
------------------
``PublicResponseCacheMiddleware`` serves anonymous GET and HEAD requests of the
public pages, feeds, sitemap and the API from the ``responses`` cache
(``settings.CACHES``: Redis when ``REDIS_URL`` is set, local memory otherwise),
keyed by the clock, the day, the URL and the request headers the answer
varies on. Each answer carries a strong ETag derived from that key (details of
the API keep their own record ETag): ``If-None-Match`` naming it is a 304 after
one query, the clock. See docs/api.md, "Conditional requests and caching".
"""

import hashlib
import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import DisallowedHost
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse, HttpResponseNotModified
from django.urls import Resolver404, ResolverMatch, resolve
from django.utils import timezone
from django.utils.cache import cc_delim_re, patch_vary_headers

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# The record clock
# --------------------------------------------------------------------------


class _BumpedMarker:
    """The ``on_commit`` callback that says "this transaction already moved the clock"."""

    def __call__(self):
        pass


def _pending_bump(connection) -> bool:
    marker = getattr(connection, "_record_clock_marker", None)
    # Each entry of run_on_commit is (savepoint ids, callback, robust); a rollback of the
    # transaction, or of the savepoint the marker was registered in, removes it.
    return marker is not None and connection.in_atomic_block and any(
        entry[1] is marker for entry in connection.run_on_commit
    )


def bump(using: str | None = None) -> None:
    """Move the record version, in the caller's transaction (at most once a transaction).

    Creates the row when it is missing (a flush between transactional tests
    deletes it): one upsert statement, the same on PostgreSQL and SQLite.
    """
    from timeline.models import RecordClock

    connection = connections[using or DEFAULT_DB_ALIAS]
    if _pending_bump(connection):
        return
    table = connection.ops.quote_name(RecordClock._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, version, changed_at) VALUES (%s, 1, %s) "  # noqa: S608 - our table name
            f"ON CONFLICT (id) DO UPDATE SET version = {table}.version + 1, changed_at = excluded.changed_at",
            [RecordClock.SINGLETON_ID, connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    if connection.in_atomic_block:
        marker = _BumpedMarker()
        connection._record_clock_marker = marker
        connection.on_commit(marker)


def current(using: str | None = None) -> tuple[int, object]:
    """(version, changed_at) of the record: one primary-key query. (0, None) before any change."""
    from timeline.models import RecordClock

    # Routed like the data that follows (conflict/db_routers.py): an anonymous request reads clock
    # and data from the same replica, so an answer is never keyed on a newer version than its data.
    alias = using or router.db_for_read(RecordClock)
    connections[alias]._record_clock_marker = None  # a reader saw this version: the next change moves it
    row = RecordClock.objects.using(alias).filter(pk=RecordClock.SINGLETON_ID).values_list("version", "changed_at")
    return next(iter(row), (0, None))


def _saved_or_deleted(sender, using=None, **kwargs):
    bump(using)


def _m2m_changed(sender, action, using=None, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        bump(using)


def connect_signals(app_config) -> None:
    """Bump on every change of the app's models: saves, deletes, many-to-many links.

    Left out: the django-simple-history tables (written with the change they
    record) and the clock itself.
    """
    from simple_history.models import HistoricalChanges

    from timeline.models import RecordClock

    for model in app_config.get_models():
        if model is RecordClock or issubclass(model, HistoricalChanges):
            continue
        label = model._meta.label
        post_save.connect(_saved_or_deleted, sender=model, dispatch_uid=f"record-clock-save-{label}")
        post_delete.connect(_saved_or_deleted, sender=model, dispatch_uid=f"record-clock-delete-{label}")
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=f"record-clock-m2m-{through._meta.label}")


# --------------------------------------------------------------------------
# The response cache
# --------------------------------------------------------------------------

CACHE_ALIAS = "responses"
# Where anonymous answers may be cached: the public site and the API. The admin, the
# health check and the dataset releases (files on disk, not in the record) never are.
NAMESPACES = frozenset({"timeline", "api"})
# The OpenAPI document and its viewers describe the code, not the record: they need no
# clock (and are loaded by tools, e.g. schemathesis, before any database exists).
NEVER = frozenset({"timeline:healthz", "timeline:release-list", "timeline:release-download", "api:token",
                   "api:schema", "api:docs", "api:redoc"})
# Request headers every key holds; those a response names in Vary are added per view.
KEY_HEADERS = frozenset({"accept"})
# Larger answers are served but not stored (a 500-row CSV page is about 0.5 MB).
MAX_BODY_BYTES = 2 * 1024 * 1024
# Set on the request while the middleware fills an entry: the API's ConditionalGetMixin then
# leaves the list ETag (a digest of the body) to the middleware's key-derived tag.
TAGGED_BY_CACHE = "public_response_cache"


@dataclass(frozen=True)
class _ViewFacts:
    """What one view's answers were seen to vary on, learned from its responses (per process).

    ``names``: the request headers in the key (Accept and whatever Vary named,
    Cookie excepted). ``own_cache_control``: the view sets Cache-Control
    itself, so a 304 must copy it from the stored answer.
    """

    names: frozenset
    vary: str
    own_cache_control: bool


_facts: dict[str, _ViewFacts] = {}


@dataclass
class _Plan:
    match: ResolverMatch
    parts: list


def _matches(header: str, etag: str) -> bool:
    """If-None-Match comparison (weak: W/ ignored; ``*`` matches)."""
    wanted = etag.removeprefix("W/")
    return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def body_etag(content: bytes) -> str:
    """A strong ETag from the bytes of an answer (the API's lists without the response cache)."""
    return f'"{hashlib.sha256(content).hexdigest()[:32]}"'


def _key(plan: _Plan, names: frozenset, request) -> str:
    headers = [(name, request.headers.get(name, "")) for name in sorted(names | KEY_HEADERS)]
    material = json.dumps([*plan.parts, headers], separators=(",", ":"), default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _tag(key: str) -> str:
    return f'"{key[:32]}"'


def _vary_names(response) -> set[str]:
    return {name.strip().lower() for name in cc_delim_re.split(response.get("Vary", "")) if name.strip()}


def _cache_control(response) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in cc_delim_re.split(response.get("Cache-Control", ""))}


def _not_storable(request, response) -> str | None:
    """Why this answer must not be shared with other readers (None: it may)."""
    if response.cookies or response.has_header("Set-Cookie"):
        return "sets a cookie"
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return "holds a CSRF token"
    session = getattr(request, "session", None)
    if session is not None and session.modified:
        return "changed the session"
    if isinstance(getattr(request, "_csp_nonce", None), str):
        return "holds a CSP nonce"
    if _cache_control(response) & {"private", "no-store"}:
        return "Cache-Control private or no-store"
    if "*" in _vary_names(response):
        return "Vary: *"
    if len(response.content) > MAX_BODY_BYTES:
        return "too large"
    return None


def _not_modified(etag: str, headers: dict) -> HttpResponseNotModified:
    response = HttpResponseNotModified()
    response["ETag"] = etag
    for name in ("Last-Modified", "Vary", "Cache-Control"):
        if headers.get(name):
            response[name] = headers[name]
    return response


def _answer_conditionally(request_header: str | None, response):
    if request_header and response.has_header("ETag") and _matches(request_header, response["ETag"]):
        return _not_modified(response["ETag"], {name: response.get(name) for name in ("Last-Modified", "Vary", "Cache-Control")})
    return response


class PublicResponseCacheMiddleware:
    """Anonymous GET/HEAD of the site and the API, answered from the response cache.

    Anonymous means no ``Authorization`` header and no session cookie (staff
    never share an answer, and no session is loaded to find out). On a request
    it may answer:

    1. reads the record clock (the one query of a 304 or a cache hit);
    2. ``If-None-Match`` naming the key's tag (or the stored answer's ETag): 304;
    3. an entry for the key: that answer;
    4. otherwise the view, whose 200 is stored unless it is personal (a cookie,
       a CSRF token, a CSP nonce, Cache-Control private/no-store, Vary: *).

    The API's throttles still count answers given from the cache. The CSP
    header is added by the middleware above on every answer, cached or not
    (the pages use no nonces; an answer holding one would not be stored).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        plan = self._plan(request)
        if plan is None:
            return self.get_response(request)
        store = caches[CACHE_ALIAS]
        facts = _facts.get(plan.match.view_name)
        if facts is not None:
            key = _key(plan, facts.names, request)
            answered = self._from_cache(request, plan, facts, key, store)
            if answered is not None:
                return answered
        return self._fill(request, plan, store)

    # -- deciding --------------------------------------------------------------------------

    def _plan(self, request) -> _Plan | None:
        if not settings.TIMELINE_RESPONSE_CACHE or request.method not in ("GET", "HEAD"):
            return None
        if "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return None
        try:
            match = resolve(request.path_info)
            host = request.get_host()
        except (Resolver404, DisallowedHost):
            return None
        if not NAMESPACES & set(match.namespaces) or match.view_name in NEVER:
            return None
        try:
            version, changed_at = current()
        except DatabaseError:
            return None  # the view meets the same error and answers it (503)
        query = sorted(request.GET.lists(), key=lambda item: item[0])
        parts = [version, changed_at, timezone.localdate(), request.scheme, host, request.path, query]
        return _Plan(match, parts)

    def _allowed(self, request, plan: _Plan) -> bool:
        """The API view's throttles, counted for an answer the view does not give itself."""
        view_class = getattr(plan.match.func, "cls", None)
        return all(
            throttle().allow_request(request, view_class) for throttle in getattr(view_class, "throttle_classes", ())
        )

    # -- answering -------------------------------------------------------------------------

    def _from_cache(self, request, plan: _Plan, facts: _ViewFacts, key: str, store):
        wanted = request.headers.get("If-None-Match")
        if wanted and _matches(wanted, _tag(key)) and not facts.own_cache_control:
            if not self._allowed(request, plan):
                return None  # the view answers 429
            request.resolver_match = plan.match
            headers = {"Vary": facts.vary, "Cache-Control": "no-cache"}
            return _not_modified(_tag(key), headers)
        entry = store.get(f"response:{key}")
        if entry is None or not self._allowed(request, plan):
            return None
        request.resolver_match = plan.match  # the CSP exceptions of a page are chosen by its view
        headers = dict(entry["headers"])
        if wanted and _matches(wanted, headers["ETag"]):
            return _not_modified(headers["ETag"], headers)
        response = HttpResponse(entry["content"], status=entry["status"])
        for name, value in entry["headers"]:
            response[name] = value
        for name, value in entry["attributes"].items():
            setattr(response, name, value)
        return response

    def _fill(self, request, plan: _Plan, store):
        # The view answers in full (its own 304 would store nothing); the middleware compares.
        wanted = request.META.pop("HTTP_IF_NONE_MATCH", None)
        setattr(request, TAGGED_BY_CACHE, True)
        try:
            response = self.get_response(request)
        finally:
            if wanted is not None:
                request.META["HTTP_IF_NONE_MATCH"] = wanted
        if response.status_code != 200 or response.streaming:
            return response
        if reason := _not_storable(request, response):
            logger.debug("Not caching %s: %s", request.path, reason)
            if not response.has_header("ETag") and getattr(response, TAGGED_BY_CACHE, False):
                response["ETag"] = body_etag(response.content)
            return _answer_conditionally(wanted, response)
        # Whether a reader gets this shared answer depends on their session cookie.
        patch_vary_headers(response, ("Cookie",))
        names = self._learn(plan, response)
        key = _key(plan, names, request)
        if not response.has_header("ETag"):
            response["ETag"] = _tag(key)
        if not response.has_header("Cache-Control"):
            # Browsers and proxies may keep it, but ask again each time: the 304 is cheap.
            response["Cache-Control"] = "no-cache"
        if request.method == "GET":
            entry = {
                "status": response.status_code,
                "content": response.content,
                "headers": [(name, value) for name, value in response.items() if name.lower() != "content-length"],
                # django-csp decorators' per-view policy changes travel with the answer.
                "attributes": {name: value for name, value in vars(response).items() if name.startswith("_csp")},
            }
            store.set(f"response:{key}", entry, timeout=settings.TIMELINE_RESPONSE_CACHE_SECONDS)
        return _answer_conditionally(wanted, response)

    def _learn(self, plan: _Plan, response) -> frozenset:
        """The view's key headers, grown by what this response's Vary names (never shrunk)."""
        known = _facts.get(plan.match.view_name)
        names = frozenset((_vary_names(response) - {"cookie"}) | (known.names if known else frozenset()))
        own = response.has_header("Cache-Control") or bool(known and known.own_cache_control)
        _facts[plan.match.view_name] = _ViewFacts(names, response.get("Vary", ""), own)
        return names
