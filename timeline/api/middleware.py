"""``X-Record-Time`` on every answer of the API.

An answer read with ``?known_at=`` reflects that moment and the view says so
itself (``ConditionalGetMixin``). Every other answer under ``/api/`` (lists,
details, 404s and 405s, the token endpoint, the schema and the docs, errors
raised by other middleware such as a 503 or a lock-out's 429) is stamped here
with the moment it was computed, as the views used to stamp it. An answer the
response cache gives (``timeline.cache``) is stamped when it is given: the
cache is keyed by the record clock, so nothing changed since it was stored.
A 304 Not Modified to a read at ``?known_at=`` confirms an answer at that
moment, and says that moment. A header already set is left as it is.
"""

from timeline import record_time

API_PREFIX = "/api/"


class RecordTimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(API_PREFIX) and not response.has_header(record_time.HEADER):
            response[record_time.HEADER] = record_time.header_value(self.confirmed_moment(request, response))
        return response

    @staticmethod
    def confirmed_moment(request, response):
        """The ``known_at`` of a 304 to a read that takes it (the answer it confirms reflects it); else None: now."""
        if response.status_code != 304:
            return None
        view = getattr(getattr(getattr(request, "resolver_match", None), "func", None), "cls", None)
        if not getattr(view, "supports_known_at", False):
            return None
        try:
            return record_time.parse(request.GET.get(record_time.PARAMETER))
        except record_time.KnownAtError:
            return None
