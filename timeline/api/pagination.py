"""Pagination: every list answers ``{"next", "previous", "results"}`` (plus ``count`` where cheap).

``page_size`` is 1 to 500 (default 50); anything else is a 400, not a silent
clamp, so a script never believes it got everything when it did not.
Events use keyset ("cursor") pagination on the ordering field and the id, so
the ten-thousandth page costs what the first one does.
"""

import base64
import binascii
import datetime as dt
import json
from collections import OrderedDict

from django.db.models import Q
from rest_framework import exceptions
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size_from(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = None
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise exceptions.ValidationError(
            {"page_size": [f"Give a whole number from 1 to {MAX_PAGE_SIZE} (got {raw[:40]!r})."]}
        )
    return size


PAGE_SIZE_PARAMETER = {
    "name": "page_size",
    "required": False,
    "in": "query",
    "description": f"Results per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}). Other values: 400.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
}


def _link_schema(description: str) -> dict:
    return {"type": "string", "nullable": True, "format": "uri", "description": description}


class PageNumberPagination(PageNumberPagination):
    """``?page=2&page_size=100`` with a total ``count``."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        return page_size_from(request)

    def get_paginated_response(self, data):
        return Response(
            OrderedDict(
                [
                    ("count", self.page.paginator.count),
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("results", data),
                ]
            )
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "description": "How many records match, on all pages."},
                "next": _link_schema("The next page, or null on the last one."),
                "previous": _link_schema("The previous page, or null on the first one."),
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": "Page number, from 1. A page past the end: 404.",
                "schema": {"type": "integer", "minimum": 1},
            },
            PAGE_SIZE_PARAMETER,
        ]


class KeysetPagination(BasePagination):
    """Keyset pagination on ``(ordering field, id)``.

    The view gives the allowed ``orderings`` (name -> model field). The cursor
    is an opaque token carrying the ordering, the last row's key and the
    direction; it is only valid with the ordering it was made for.
    """

    cursor_query_param = "cursor"
    ordering_query_param = "ordering"

    orderings: dict[str, str] = {}
    default = ""

    # -- decoding --------------------------------------------------------------------------

    def _ordering(self, request) -> str:
        ordering = request.query_params.get(self.ordering_query_param) or self.default
        if ordering not in self.orderings:
            choices = ", ".join(self.orderings)
            raise exceptions.ValidationError({"ordering": [f"Order by one of {choices} (got {ordering[:40]!r})."]})
        return ordering

    def _decode(self, token: str, ordering: str):
        invalid = exceptions.ValidationError(
            {"cursor": ["This cursor is not valid; use the next or previous link of a response as it is."]}
        )
        try:
            padded = token + "=" * (-len(token) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8"))
            value, pk, direction, cursor_ordering = payload["v"], int(payload["i"]), payload["d"], payload["o"]
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            raise invalid from None
        if direction not in ("n", "p") or not isinstance(value, str):
            raise invalid
        if cursor_ordering != ordering:
            raise exceptions.ValidationError(
                {"cursor": [f"This cursor was made for ordering={cursor_ordering!r}, not {ordering!r}."]}
            )
        field = self.orderings[ordering].lstrip("-")
        try:
            key = dt.date.fromisoformat(value) if field == "date" else dt.datetime.fromisoformat(value)
        except ValueError:
            raise invalid from None
        return key, pk, direction

    def _encode(self, row, direction: str) -> str:
        value = getattr(row, self.field)
        payload = {"o": self.ordering, "v": value.isoformat(), "i": row.pk, "d": direction}
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")

    # -- paginating --------------------------------------------------------------------------

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = page_size_from(request)
        self.ordering = self._ordering(request)
        spec = self.orderings[self.ordering]
        descending = spec.startswith("-")
        self.field = spec.lstrip("-")
        token = request.query_params.get(self.cursor_query_param)
        direction = "n"
        if token:
            key, pk, direction = self._decode(token, self.ordering)
            # "after" in the reading direction for n, "before" for p
            forwards = (direction == "n") != descending
            op = "gt" if forwards else "lt"
            # The redundant range bound lets PostgreSQL start the index scan at the cursor
            # instead of filtering every earlier row (a row-value comparison in effect).
            queryset = queryset.filter(
                Q(**{f"{self.field}__{op}e": key})
                & (Q(**{f"{self.field}__{op}": key}) | Q(**{self.field: key, f"pk__{op}": pk}))
            )
        reverse = direction == "p"
        walk_descending = descending != reverse
        order = [f"-{self.field}", "-pk"] if walk_descending else [self.field, "pk"]
        rows = list(queryset.order_by(*order)[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        self.has_next = more if direction == "n" else bool(rows)
        self.has_previous = bool(token) and bool(rows) if direction == "n" else more
        self.rows = rows
        return rows

    def _link(self, token):
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, token)

    def get_next_link(self):
        if not self.has_next or not self.rows:
            return None
        return self._link(self._encode(self.rows[-1], "n"))

    def get_previous_link(self):
        if not self.has_previous or not self.rows:
            return None
        return self._link(self._encode(self.rows[0], "p"))

    def get_first_link(self):
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response(self, data):
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": _link_schema("The next page, or null on the last one. Follow it as it is."),
                "previous": _link_schema("The previous page, or null on the first one."),
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link. Invalid or made for another ordering: 400.",
                "schema": {"type": "string"},
            },
            {
                "name": self.ordering_query_param,
                "required": False,
                "in": "query",
                "description": "Sort order; ties are broken by id in the same direction. Default: " + self.default + ".",
                "schema": {"type": "string", "enum": list(self.orderings)},
            },
            PAGE_SIZE_PARAMETER,
        ]


class EventPagination(KeysetPagination):
    orderings = {"date": "date", "-date": "-date", "updated_at": "updated_at", "-updated_at": "-updated_at"}
    default = "date"
