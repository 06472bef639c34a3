"""Security glue: the CSP exceptions for third-party pages, and django-axes' lock-out answers.

Our own pages run under the strict policy of settings.CONTENT_SECURITY_POLICY. Code that
ships with our dependencies cannot, everywhere: the Swagger UI and Redoc API docs
(drf-spectacular) put their start-up script and a few style rules inline, the browsable API
(DRF) has an inline <style> and lays out its toolbar with ``style`` attributes, and the
vendored vis-timeline injects <style> elements holding copies of the rules its stylesheet
already has. And the public pages colour the map and control bars with each party's colour,
which is data. Rather than loosen the policy for the whole site, CSPExceptionsMiddleware
allows exactly those inline blocks by their SHA-256 hash, and style attributes, on those pages
only; the admin keeps the strict policy (docs/reliability.md explains each exception).
"""

import base64
import functools
import hashlib
import logging
import re

from django.conf import settings
from django.contrib.staticfiles import finders
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.utils.html import format_html

try:  # django-axes sends this when a login attempt is refused for too many failures.
    from axes.signals import user_locked_out
except ImportError:  # pragma: no cover - axes is a runtime requirement
    user_locked_out = None

logger = logging.getLogger(__name__)

DOCS_VIEWS = {"api:docs", "api:redoc"}
INLINE_BLOCK = re.compile(rb"<(script|style)(\s[^>]*)?>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
VIS_TIMELINE = "vendor/vis-timeline/vis-timeline-graph2d.min.js"
# vis-timeline's style injector: function b(t,e){void 0===e&&(e={});var i=e.insertAt;...
VIS_INJECTOR = re.compile(r"function (\w+)\(t,e\)\{void 0===e&&\(e=\{\}\);var i=e\.insertAt")
JS_STRING_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
JS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _source(text: bytes | str) -> str:
    data = text.encode() if isinstance(text, str) else text
    return "'sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode() + "'"


def _inline_hashes(html: bytes) -> dict[str, list[str]]:
    """'sha256-…' sources for every inline <script> (without src) and <style> block of a page."""
    found: dict[str, list[str]] = {"script-src": [], "style-src": []}
    for tag, attrs, body in INLINE_BLOCK.findall(html):
        if tag.lower() == b"script" and (b"src=" in (attrs or b"") or b"application/json" in (attrs or b"")):
            continue
        found[f"{tag.lower().decode()}-src"].append(_source(body))
    return found


def _js_string(literal: str) -> str:
    """The value of a JavaScript string literal's body (minified code uses only simple escapes)."""

    def unescape(match):
        code = match.group(1)
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:], 16))
        return JS_ESCAPES.get(code, code)

    return JS_STRING_ESCAPE.sub(unescape, literal)


@functools.cache
def vis_timeline_style_hashes() -> tuple[str, ...]:
    """Hashes of the CSS blocks the vendored vis-timeline injects as <style> elements.

    Read from the vendored file itself, so an upgrade keeps working; the browser test of the
    home page fails loudly if the injector ever changes shape.
    """
    path = finders.find(VIS_TIMELINE)
    if not path:
        return ()
    with open(path, encoding="utf-8") as file:
        code = file.read()
    injector = VIS_INJECTOR.search(code)
    if not injector:
        return ()
    call = re.compile(r"(?<![\w.$])" + re.escape(injector.group(1)) + r"""\((?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\)""")
    blocks = {_js_string(double or single) for double, single in call.findall(code)}
    return tuple(sorted(_source(css) for css in blocks if css == "" or "{" in css))


class CSPExceptionsMiddleware:
    """Per-page CSP additions: the API docs, the browsable API and the public pages' colours.

    Sits below csp.middleware.CSPMiddleware, so the ``_csp_update`` set here is merged into
    the site policy on the way out (the same mechanism as django-csp's ``@csp_update``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 304:
            # A 304 updates the headers the browser stored with the page (RFC 9111 4.3.4). The
            # page's own policy, with its exceptions, must stay: a 304 has no body to hash and no
            # Content-Type, so it would carry the strict policy and break the page it revalidates.
            response._csp_exempt = True
            response._csp_exempt_ro = True
            return response
        match = getattr(request, "resolver_match", None)
        if match is None or "text/html" not in response.get("Content-Type", "") or response.streaming:
            return response
        if match.view_name == "api:redoc":
            # Redoc (styled-components) writes its rules into <style> elements it creates at run
            # time, which no hash can name, and renders the schema in a worker from a blob: URL.
            response._csp_update = {
                "script-src": _inline_hashes(response.content)["script-src"],
                "style-src": ["'unsafe-inline'"],
                "style-src-attr": ["'unsafe-inline'"],
                "worker-src": ["'self'", "blob:"],
            }
        elif match.namespace == "api":
            # Swagger UI and the browsable API: their own inline blocks, by hash, and the style
            # attributes of DRF's toolbar and Swagger's widgets.
            update = _inline_hashes(response.content)
            update["style-src-attr"] = ["'unsafe-inline'"]
            response._csp_update = {key: value for key, value in update.items() if value}
        elif match.namespace == "timeline":
            # The public pages colour the map, its legend and the control bars with each party's
            # colour, which is data (validated as #rrggbb everywhere it is written), so it can only
            # be a style attribute. Attributes only: <style> elements and scripts stay refused.
            update = {"style-src-attr": ["'unsafe-inline'"]}
            if VIS_TIMELINE.encode() in response.content:
                update["style-src-elem"] = ["'self'", *vis_timeline_style_hashes()]
            response._csp_update = update
        return response


class DatabaseUnavailableMiddleware:
    """A 503 with Retry-After, not a 500, while the database cannot be reached.

    During a PostgreSQL restart or failover every query fails with OperationalError (or
    InterfaceError on a connection the restart closed). Readers and API clients are told to
    come back in a few seconds; CONN_HEALTH_CHECKS then reconnects on the next request, so the
    site recovers by itself. A query cancelled by statement_timeout lands here too.
    """

    RETRY_AFTER_SECONDS = 5

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import InterfaceError, OperationalError

        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("Database unavailable for %s %s: %s", request.method, request.path, exception)
        words = "The database is unavailable for a moment; try again in a few seconds."
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": words}, status=503)
        else:
            response = HttpResponse(
                format_html('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title></head>'
                            "<body><main><h1>{}</h1><p>{}</p></main></body></html>",
                            "Back in a moment", "Back in a moment", words),
                status=503,
            )
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response


def client_ip(request) -> str:
    """The address django-axes keys lock-outs on.

    Directly exposed, REMOTE_ADDR. Behind our own reverse proxy (DJANGO_BEHIND_PROXY=1) the
    right-most X-Forwarded-For entry, the one that proxy appended: entries to its left are
    whatever the client sent and cannot be trusted.
    """
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded and forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def _lockout_words() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-in attempts for this account from your address. "
        f"Signing in is locked for {minutes} minutes; try again after that, "
        f"or ask an administrator to lift the lock."
    )


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): plain words, 429."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": _lockout_words()}, status=429)
    else:
        response = HttpResponse(
            format_html(
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in is locked</title>'
                '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
                "<body><main><h1>Signing in is locked</h1><p>{}</p></main></body></html>",
                _lockout_words(),
            ),
            status=429,
        )
    response["Retry-After"] = retry_after
    return response


if user_locked_out is not None:

    @receiver(user_locked_out, dispatch_uid="conflict.api_token_lockout")
    def refuse_locked_out_api_login(sender, request, **kwargs):
        """Stop a locked-out API token request with a 429 in the API's own error shape.

        django-axes marks the lock-out on the request it was given; for the API that is DRF's
        Request wrapper, which AxesMiddleware never sees, so the API says it here instead.
        """
        from rest_framework.exceptions import Throttled
        from rest_framework.request import Request

        if isinstance(request, Request):
            raise Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds(), detail=_lockout_words())


class ReplicaReadsMiddleware:
    """Lets an anonymous GET or HEAD read a PostgreSQL replica (``conflict.db_routers``).

    A request is an anonymous safe read when its method is GET or HEAD and it carries no
    ``Authorization`` header (API tokens are only checked later, by DRF), no session cookie (as
    timeline.cache decides, without loading the session) and no signed-in user. Only then does
    the router send its reads to a replica; staff and every other request read and write the
    primary. Does nothing without DATABASE_REPLICA_URLS.

    Placed below AuthenticationMiddleware and above timeline.cache's PublicResponseCacheMiddleware,
    so that the record clock the cache keys an answer on is read from the same replica as the
    answer's data (see conflict/db_routers.py).

    If the replica fails in the middle of the request (its connection dropped, or the standby
    cancelled a query for a recovery conflict), the request is answered again from the primary:
    it is a GET by an anonymous client, so running it twice changes nothing.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD"})

    def __init__(self, get_response):
        self.get_response = get_response

    @classmethod
    def is_anonymous_read(cls, request) -> bool:
        if request.method not in cls.SAFE_METHODS or request.META.get("HTTP_AUTHORIZATION"):
            return False
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            return False
        user = getattr(request, "user", None)
        return not (user is not None and user.is_authenticated)

    def __call__(self, request):
        from conflict import db_routers

        if not db_routers.replica_aliases() or not self.is_anonymous_read(request):
            return self.get_response(request)
        with db_routers.anonymous_reads() as state:
            response = self.get_response(request)
            if state.replica_failed:
                logger.warning("Read replica %s failed during %s %s; answering from the primary",
                               state.replica, request.method, request.path)
                state.use_primary()
                response = self.get_response(request)
        return response

    def process_exception(self, request, exception):
        from conflict import db_routers

        if db_routers.note_failure(exception):
            # A placeholder that __call__ replaces with the primary's answer (and that keeps
            # DatabaseUnavailableMiddleware from reporting an outage that readers never see).
            return HttpResponse(status=503)
        return None
