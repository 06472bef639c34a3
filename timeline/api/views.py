"""The REST API, version 1.

Reads go through ``timeline.selectors`` (the same functions the pages use),
writes through ``timeline.services``. Every GET answers with an ``ETag`` and
honours ``If-None-Match``; every change of an existing record must send
``If-Match`` with the ETag it last read (428 without it, 412 when stale).
"""

import copy
import datetime as dt
import hashlib
import json

from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpResponseNotModified
from django.utils.http import http_date
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from timeline import asof, cache, implementation, record_time, selectors, services, workflow
from timeline.api import filters
from timeline.api import serializers as api
from timeline.api.errors import PreconditionFailed, PreconditionRequired
from timeline.api.pagination import EventPagination, KeysetPagination, PageNumberPagination
from timeline.api.parsers import JSONParser
from timeline.api.permissions import StaffModelPermissionsOrReadOnly, sees_unpublished
from timeline.api.renderers import CSVRenderer, FastJSONRenderer, GeoJSONRenderer
from timeline.models import Agreement, Deadline, District, Handover, Party, Postponement, Source

# --------------------------------------------------------------------------
# Conditional requests
# --------------------------------------------------------------------------


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an If-None-Match / If-Match header names ``etag`` (weak comparison, ``*`` matches any)."""
    if not header:
        return False
    wanted = _opaque(etag)
    return any(tag.strip() == "*" or _opaque(tag) == wanted for tag in header.split(","))


def record_etag(instance, data, fmt: str = "json") -> str:
    """A strong ETag for one record: its id and version, plus a digest of what
    the response shows (related records' names included), so that it changes
    whenever the representation does."""
    digest = hashlib.sha256(json.dumps([fmt, data], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f'"{instance.pk}-{services.record_version(instance)}-{digest}"'


class ConditionalGetMixin:
    """ETag on every successful GET, and 304 Not Modified when If-None-Match names it.

    Details carry the record's ETag (set by ``retrieve``); lists and other
    responses get a digest of the rendered body, except anonymous ones, which
    ``timeline.cache.PublicResponseCacheMiddleware`` tags from its cache key.
    """

    def finalize_response(self, request, response, *args, **kwargs):
        self.errors_in_json(request, response)
        response = super().finalize_response(request, response, *args, **kwargs)
        # An answer at ?known_at= reflects that moment; every other answer under /api/ is stamped with
        # the moment it was computed by timeline.api.middleware.RecordTimeMiddleware.
        if getattr(request, "known_at", None) is not None:
            response[record_time.HEADER] = record_time.header_value(request.known_at)
        if request.method not in ("GET", "HEAD") or response.status_code != status.HTTP_200_OK:
            return response
        if not response.has_header("ETag"):
            if getattr(request, cache.TAGGED_BY_CACHE, False):
                # An anonymous answer the response cache tags from its key (and revalidates itself).
                setattr(response, cache.TAGGED_BY_CACHE, True)
                return response
            response.render()
            response["ETag"] = cache.body_etag(response.content)
        if etag_matches(request.headers.get("If-None-Match"), response["ETag"]):
            not_modified = HttpResponseNotModified()
            for header in ("ETag", "Last-Modified", "Vary", "Cache-Control"):
                if response.has_header(header):
                    not_modified[header] = response[header]
            return not_modified
        return response


    def errors_in_json(self, request, response) -> None:
        """An error is JSON (the ``Error`` schema) even when ``?format=csv`` or GeoJSON was asked for:
        a spreadsheet or map client gets a message it can show, not a one-cell table."""
        renderer = getattr(request, "accepted_renderer", None)
        if not isinstance(response, Response) or response.status_code < 400 or renderer is None:
            return
        if renderer.format in ("json", "api"):
            return
        json_renderer = next((r for r in self.renderer_classes if r.format == "json"), None)
        if json_renderer is not None:
            request.accepted_renderer = json_renderer()
            request.accepted_media_type = json_renderer.media_type


# --------------------------------------------------------------------------
# OpenAPI description of the read/write split and of errors
# --------------------------------------------------------------------------

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="What went wrong, as one sentence."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="For invalid input: each field or query parameter at fault, with its reasons.",
        ),
    },
)


def error(description):
    return OpenApiResponse(ErrorSerializer, description=description)


AS_OF_PARAMETER = OpenApiParameter(
    asof.PARAMETER, type=OpenApiTypes.DATE, location=OpenApiParameter.QUERY,
    description="YYYY-MM-DD. The record as of the end of that day (valid time): events dated up to it, agreements "
    "signed by then, deadlines with the due date decided by then, handovers and control of districts as they stood, "
    "provisions with their status then. A day before the first event answers an empty record. Malformed: 400.",
)


def known_at_parameter(filters=None) -> OpenApiParameter:
    """``known_at`` as an endpoint takes it; ``filters``: the other parameters a list takes with it (None: a detail)."""
    description = (
        "ISO 8601 timestamp with offset. The record as it was published at that moment (record time), from the "
        "editorial history: a record corrected since shows its old text, one published later is absent, one "
        "withdrawn since is present; what it links to and lists is shown as it was then. Answers carry it back "
        "in X-Record-Time. Malformed or in the future: 400."
    )
    if filters is not None:
        taken = ", ".join(sorted({asof.PARAMETER, *filters}))
        description += (f" With it the list is page-numbered (page, page_size) and takes {taken} only; "
                        "any other parameter is a 400 naming it.")
    return OpenApiParameter(record_time.PARAMETER, type=OpenApiTypes.DATETIME, location=OpenApiParameter.QUERY,
                            description=description)


@extend_schema_serializer(many=False)
class GeoJSONFeatureSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["Feature"])
    id = serializers.CharField(help_text="The district slug.")
    geometry = serializers.JSONField(allow_null=True, help_text="Its boundary, else a Point, else null.")
    properties = inline_serializer(name="DistrictFeatureProperties", fields={
        "slug": serializers.CharField(), "name": serializers.CharField(), "kind": serializers.CharField(),
        "controlled_by": serializers.CharField(allow_null=True, help_text="Slug of the party holding it now."),
        "controlled_by_name": serializers.CharField(allow_null=True), "url": serializers.URLField(),
    })


@extend_schema_serializer(many=False)
class GeoJSONFeatureCollectionSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["FeatureCollection"])
    features = GeoJSONFeatureSerializer(many=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class ResourceSchema(AutoSchema):
    """Requests are described by the write serializer, responses by the read one, errors by ``Error``.

    Reads also list their CSV (and for districts GeoJSON) forms, chosen with ``?format=``.
    """

    def _reads(self, read, many: bool) -> dict:
        formats = {renderer.format for renderer in self.view.renderer_classes}
        responses = {(200, "application/json"): read}
        if "csv" in formats:
            responses[(200, "text/csv")] = OpenApiTypes.STR
        if "geojson" in formats:
            geojson = GeoJSONFeatureCollectionSerializer if many else GeoJSONFeatureSerializer
            responses[(200, "application/geo+json")] = geojson
        return responses

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if getattr(self.view, "action", None) in ("list", "retrieve"):
            parameters.append(AS_OF_PARAMETER)
            if getattr(self.view, "supports_known_at", False):
                parameters.append(known_at_parameter(
                    self.view.known_at_filters if self.view.action == "list" else None
                ))
        return parameters

    def get_request_serializer(self):
        write = getattr(self.view, "write_serializer_class", None)
        if write is not None and getattr(self.view, "action", None) in ("create", "update", "partial_update"):
            return write
        return super().get_request_serializer()

    def get_response_serializers(self):
        view_action = getattr(self.view, "action", None)
        read = getattr(self.view, "serializer_class", None)
        if view_action not in ("list", "retrieve", "create", "update", "partial_update", "destroy") or read is None:
            return super().get_response_serializers()
        if view_action == "list":
            return {**self._reads(read, many=True), 400: error("A filter or pagination parameter is malformed or names an unknown record."),
                    404: error("A page number past the end."), 429: error("Too many requests; see Retry-After.")}
        if view_action == "retrieve":
            return {**self._reads(read, many=False), 404: error("No such record (or not published)."), 429: error("Too many requests.")}
        responses = {
            400: error("Invalid body: each field at fault with its reason."),
            401: error("Not authenticated."),
            403: error("Not staff, or lacking the model permission."),
            415: error("The body is not application/json."),
        }
        if view_action == "create":
            return {201: read, **responses}
        responses.update({
            404: error("No such record."),
            409: error("The record is derived from another, or others still refer to it."),
            412: error("The record changed since the ETag given in If-Match; body has current_version and current_etag."),
            428: error("If-Match is missing."),
        })
        if view_action == "destroy":
            return {204: None, **responses}
        return {200: read, **responses}


# --------------------------------------------------------------------------
# The record as published at a moment (?known_at=, timeline.record_time)
# --------------------------------------------------------------------------


def read_known_at(request) -> None:
    """``request.known_at``: the moment of ``?known_at=`` on a read, else None; malformed or future: 400 naming it."""
    request.known_at = None
    if request.method in ("GET", "HEAD") and request.query_params.get(record_time.PARAMETER):
        try:
            request.known_at = record_time.parse(request.query_params[record_time.PARAMETER])
        except record_time.KnownAtError as bad:
            raise exceptions.ValidationError({record_time.PARAMETER: [str(bad)]}) from None


# What every list takes with known_at, besides the filters its view names.
KNOWN_AT_ALWAYS = frozenset({record_time.PARAMETER, asof.PARAMETER, "page", "page_size", "format"})


def known_at_query(request, filterset_class, filters) -> dict:
    """The filters of a list read with ``?known_at=``, validated by the list's own filter set.

    A parameter that is not one of ``filters`` (nor of ``KNOWN_AT_ALWAYS``) is a
    400 naming it: it would otherwise be silently ignored.
    """
    unsupported = sorted(set(request.query_params) - KNOWN_AT_ALWAYS - set(filters))
    if unsupported:
        raise exceptions.ValidationError({name: [f"{name} cannot be combined with known_at."] for name in unsupported})
    model = filterset_class._meta.model
    filterset = filterset_class(request.query_params, queryset=model.objects.none(), request=request)
    if not filterset.is_valid():
        raise exceptions.ValidationError(filterset.errors)
    return filterset.form.cleaned_data


def known_at_context(known_at) -> dict:
    """Serializer context at ``known_at``: the published record of then (drafts of then are not part of it,
    whoever asks), with overdue and current statuses decided against that day."""
    return {"include_unpublished": False, "known_at": known_at, "today": record_time.today(known_at)}


# --------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------


class ResourceViewSet(ConditionalGetMixin, viewsets.ModelViewSet):
    """Read for everyone (published records only unless staff), write for staff with the model permission.

    Subclasses give ``selector`` (the selectors function that lists the
    records), the read ``serializer_class``, the ``write_serializer_class`` and
    ``save`` (which calls the service).
    """

    schema = ResourceSchema()
    permission_classes = [StaffModelPermissionsOrReadOnly]
    pagination_class = PageNumberPagination
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    write_serializer_class = None
    error_field_names: dict = {"publication_status": "status"}
    lookup_is_integer = False

    def get_object(self):
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        if self.lookup_is_integer and not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise exceptions.NotFound(f"No record with the id {value[:40]!r}; ids are whole numbers.")
        return super().get_object()

    @property
    def include_unpublished(self) -> bool:
        return sees_unpublished(self.request)

    def selector(self, *, include_unpublished: bool):
        raise NotImplementedError

    def get_queryset(self):
        queryset = self.selector(include_unpublished=self.include_unpublished)
        if self.request.method in ("GET", "HEAD") and self.as_of is not None:
            queryset = self.as_of_filter(queryset, self.as_of)
        return queryset

    supports_known_at = True
    # With ?known_at=: the filters a list takes, each {parameter: lookup on the historical rows}
    # (any other parameter is a 400 naming it), and the order of the list.
    known_at_filters: dict = {}
    known_at_ordering: tuple = ("id",)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        read_known_at(request)

    @property
    def as_of(self):
        """The day of ``?as_of=YYYY-MM-DD`` on a read (None: today's record); malformed: 400 naming it."""
        if not hasattr(self, "_as_of"):
            try:
                self._as_of = asof.parse(self.request.query_params.get(asof.PARAMETER))
            except asof.AsOfError as bad:
                raise exceptions.ValidationError({asof.PARAMETER: [str(bad).split(": ", 1)[1]]}) from None
        return self._as_of

    def as_of_filter(self, queryset, day):
        """The rows that existed at the end of ``day``; records without a date of their own all did."""
        return queryset

    def get_serializer_context(self):
        context = {**super().get_serializer_context(), "include_unpublished": self.include_unpublished}
        if self.request is not None and self.request.method in ("GET", "HEAD"):
            context["as_of"] = self.as_of
            if getattr(self.request, "known_at", None) is not None:
                context.update(known_at_context(self.request.known_at))
        return context

    def extra_context(self, rows) -> dict:
        """Facts computed for a whole page at once (e.g. control histories)."""
        return {}

    def serialize(self, rows, *, many: bool):
        rows = list(rows) if many else rows
        context = {**self.get_serializer_context(), **self.extra_context(rows if many else [rows])}
        return self.serializer_class(rows, many=many, context=context).data

    # -- reading ---------------------------------------------------------------------------

    def list(self, request, *args, **kwargs):
        if getattr(request, "known_at", None) is not None:
            return self.list_known_at(request)
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.serialize(page, many=True))

    def retrieve(self, request, *args, **kwargs):
        if getattr(request, "known_at", None) is not None:
            return self.retrieve_known_at(request)
        return self.record_response(self.get_object())

    def list_known_at(self, request):
        """The list as published at ``request.known_at`` (``timeline.record_time``): page-numbered,
        narrowed by ``as_of`` and ``known_at_filters``, in a fixed number of queries per page."""
        model = self.filterset_class._meta.model
        wanted = known_at_query(request, self.filterset_class, self.known_at_filters)
        rows = record_time.as_of_rows(
            model, record_time.visible_rows(model, request.known_at), self.as_of, request.known_at
        )
        for name, lookup in self.known_at_filters.items():
            if wanted.get(name) not in (None, "", []):
                rows = rows.filter(**{lookup: wanted[name]})
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows.order_by(*self.known_at_ordering), request, view=self)
        found = record_time.records(model, page, request.known_at)
        return paginator.get_paginated_response(self.serialize(found, many=True))

    def retrieve_known_at(self, request):
        """One record as published at ``request.known_at``, looked up by its slug (or id) of then."""
        model = self.filterset_class._meta.model
        value = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, "")
        by_id = self.lookup_field == "pk"
        if self.lookup_is_integer and not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise exceptions.NotFound(f"No record with the id {value[:40]!r}; ids are whole numbers.")
        rows = record_time.visible_rows(model, request.known_at).filter(**{"id" if by_id else self.lookup_field: value})
        rows = record_time.as_of_rows(model, rows, self.as_of, request.known_at)
        found = record_time.records(model, rows[:1], request.known_at, detail=True)
        if not found:
            key = "id" if by_id else self.lookup_field
            raise exceptions.NotFound(
                f"No {model._meta.verbose_name} with the {key} {value[:40]!r} was published at that moment."
            )
        return Response(self.serialize(found[0], many=False))

    def record_response(self, instance, status_code=status.HTTP_200_OK):
        data = self.serialize(instance, many=False)
        response = Response(data, status=status_code)
        fmt = getattr(self.request.accepted_renderer, "format", "json")
        response["ETag"] = record_etag(instance, data, fmt)
        if getattr(instance, "updated_at", None):
            response["Last-Modified"] = http_date(instance.updated_at.timestamp())
        return response

    def reload(self, instance):
        """The record as a read after a write, with everything its representation shows."""
        return self.selector(include_unpublished=True).get(pk=instance.pk)

    # -- writing ---------------------------------------------------------------------------

    def check_precondition(self, instance) -> str:
        """The version the client read, checked against the record; 428 without If-Match, 412 when stale."""
        header = self.request.headers.get("If-Match")
        if not header:
            raise PreconditionRequired()
        current = record_etag(instance, self.serialize(instance, many=False), "json")
        if not etag_matches(header, current):
            raise self.stale(instance, current)
        return services.record_version(instance)

    def stale(self, instance, current_etag=None):
        error = PreconditionFailed(
            "The record has changed since you read it (it, or a record it shows); GET it again, "
            "reapply your change and send the new ETag in If-Match."
        )
        error.extra = {"current_version": services.record_version(instance)}
        if current_etag:
            error.extra["current_etag"] = current_etag
        return error

    def save(self, instance, data: dict, expected_version: str | None):
        raise NotImplementedError

    def run_service(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except services.StaleRecordError as stale:
            error = PreconditionFailed(str(stale))
            error.extra = {"current_version": stale.current_version}
            raise error from None

    def workflow_notes(self, request) -> tuple[str, str]:
        """The public note (for a correction or withdrawal) and the reason kept in history.

        They travel in the body as ``public_note`` and ``change_reason`` (or, for
        a DELETE without a body, as the ``X-Public-Note`` / ``X-Change-Reason``
        headers); they are not fields of the record, so they are taken out
        before the record's own fields are validated.
        """
        data = request.data if isinstance(request.data, dict) else {}
        note = data.get("public_note", request.headers.get("X-Public-Note", ""))
        reason = data.get("change_reason", request.headers.get("X-Change-Reason", ""))
        for name, value in (("public_note", note), ("change_reason", reason)):
            if not isinstance(value, str):
                raise exceptions.ValidationError({name: ["Must be a string."]})
        return note.strip()[:2000], reason.strip()

    def record_fields(self, request) -> dict:
        data = request.data
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in ("public_note", "change_reason")}
        return data

    def public_act(self, request, instance, validated: dict, note: str) -> str | None:
        """Apply the editorial workflow to this write (the same rules as the admin)."""
        model = self.get_queryset().model
        if not workflow.is_publishable(model):
            return None
        old_status = instance.publication_status if instance is not None else None
        new_status = validated.get("publication_status", old_status or workflow.DRAFT)
        if instance is None:
            content_changed = True
        else:
            content_changed = any(
                name != "publication_status" and getattr(instance, name, value) != value
                for name, value in validated.items()
            )
        try:
            return workflow.check_transition(
                user=request.user, record=instance if instance is not None else model(),
                old_status=old_status, new_status=new_status, content_changed=content_changed, note=note,
            )
        except workflow.WorkflowError as refused:
            raise workflow_error_to_api(refused) from None

    def row_corrections(self, request, rows, note: str) -> list:
        """``workflow.check_row_change`` for a write to rows of a publishable record (a deadline of an agreement).

        Returns the published records the write corrects (logged once it is saved).
        """
        try:
            return workflow.check_row_change(user=request.user, rows=rows, note=note)
        except workflow.WorkflowError as refused:
            raise workflow_error_to_api(refused) from None

    @staticmethod
    def row_after(model, instance, validated: dict):
        """The row as this write would leave it (not saved), to find the record it then belongs to."""
        row = copy.copy(instance) if instance is not None else model()
        for name, value in validated.items():
            if not model._meta.get_field(name).many_to_many:
                setattr(row, name, value)
        return row

    def write(self, request, instance, partial=False):
        expected = self.check_precondition(instance) if instance is not None else None
        note, reason = self.workflow_notes(request)
        serializer = self.write_serializer_class(
            instance, data=self.record_fields(request), partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        validated = dict(serializer.validated_data)
        with transaction.atomic():
            act = self.public_act(request, instance, validated, note)
            model = self.get_queryset().model
            corrected = self.row_corrections(request, [instance, self.row_after(model, instance, validated)], note)
            with workflow.change_context(user=request.user, reason=reason or "changed through the API"):
                saved = self.run_service(self.save, instance, validated, expected)
            if act:
                workflow.record_public_act(record=saved, action=act, user=request.user, note=note)
            workflow.record_row_corrections(owners=corrected, user=request.user, note=note)
        response = self.record_response(self.reload(saved), status.HTTP_201_CREATED if instance is None else 200)
        if instance is None:
            response["Location"] = response.data.get("url") if self.basename == "event" else request.build_absolute_uri(
                reverse(f"api:{self.basename}-detail", args=[getattr(saved, self.lookup_field)])
            )
        return response

    def create(self, request, *args, **kwargs):
        return self.write(request, None)

    def update(self, request, *args, **kwargs):
        return self.write(request, self.get_object(), partial=kwargs.get("partial", False))

    def destroy(self, request, *args, **kwargs):
        """Delete a draft; a record readers have seen is withdrawn instead (with a public note)."""
        instance = self.get_object()
        expected = self.check_precondition(instance)
        note, reason = self.workflow_notes(request)
        if workflow.is_publishable(instance):
            with transaction.atomic():
                current = services.record_version(type(instance)._default_manager.select_for_update().get(pk=instance.pk))
                if expected is not None and current != expected:
                    raise self.stale(instance)
                try:
                    with workflow.change_context(user=request.user, reason=reason or "deleted through the API"):
                        withdrawn = workflow.delete_or_withdraw(record=instance, user=request.user, note=note)
                except workflow.WorkflowError as refused:
                    raise workflow_error_to_api(refused) from None
            if withdrawn is not None:
                return self.record_response(self.reload(withdrawn))
            return Response(status=status.HTTP_204_NO_CONTENT)
        with transaction.atomic():
            corrected = self.row_corrections(request, [instance], note)
            with workflow.change_context(user=request.user, reason=reason or "deleted through the API"):
                self.run_service(services.record_delete, instance=instance, expected_version=expected)
            workflow.record_row_corrections(owners=corrected, user=request.user, note=note)
        return Response(status=status.HTTP_204_NO_CONTENT)


def workflow_error_to_api(refused: "workflow.WorkflowError") -> exceptions.APIException:
    """403 when the role may not act, 409 when the record's state forbids it, 400 when a note is missing."""
    from timeline.api.errors import Conflict

    if refused.code == "note_required":
        return exceptions.ValidationError({refused.field or "public_note": [refused.message]})
    if refused.code == "conflict":
        return Conflict(refused.message)
    return exceptions.PermissionDenied(refused.message)


LIST_DESCRIPTION = (
    "Paginated. Add `format=csv` for CSV (flat columns; pagination links in the `Link` header){extra}. "
    "Send `If-None-Match` with a previous `ETag` to get 304 when nothing changed."
)


def _list_doc(summary, extra="", parameters=()):
    return extend_schema(summary=summary, description=LIST_DESCRIPTION.format(extra=extra), parameters=list(parameters))


def slugs_parameter(name, description):
    return OpenApiParameter(
        name, type={"type": "array", "items": {"type": "string", "maxLength": 140}}, location=OpenApiParameter.QUERY,
        explode=True, style="form", description=description + " An unknown slug is a 400 naming it.",
    )


def search_parameter(description):
    return OpenApiParameter(
        "q", type={"type": "string", "maxLength": filters.MAX_Q_LENGTH}, location=OpenApiParameter.QUERY,
        description=description,
    )


DISTRICT_SLUGS = slugs_parameter("district", "District slug; repeat for any of several (?district=a&district=b).")


@extend_schema_view(
    list=_list_doc(
        "Events of the timeline, in date order (keyset pagination)",
        parameters=[
            DISTRICT_SLUGS,
            slugs_parameter("party", "Party slug (involved, or claiming the entry); repeat for any of several."),
            search_parameter(filters.EventFilter.base_filters["q"].extra["help_text"]),
        ],
    ),
    retrieve=extend_schema(summary="One event"),
    create=extend_schema(summary="Create an editorial event (staff)"),
    update=extend_schema(summary="Replace an editorial event (staff, If-Match required)"),
    partial_update=extend_schema(summary="Change an editorial event (staff, If-Match required)"),
    destroy=extend_schema(summary="Delete an editorial event (staff, If-Match required)"),
)
class EventViewSet(ResourceViewSet):
    """Derived events (``origin`` other than ``editorial``) are read-only: 409 on any change."""

    serializer_class = api.EventSerializer
    write_serializer_class = api.EventWriteSerializer
    filterset_class = filters.EventFilter
    pagination_class = EventPagination
    renderer_classes = [FastJSONRenderer if r is JSONRenderer else r for r in ResourceViewSet.renderer_classes]
    lookup_field = "slug"
    basename = "event"
    known_at_filters = {"date_from": "span_end__gte", "date_to": "date__lte", "kind": "kind__in"}
    known_at_ordering = ("date", "id")

    def as_of_filter(self, queryset, day):
        return asof.events(queryset, day)

    def list(self, request, *args, **kwargs):
        if getattr(request, "known_at", None) is None:
            return self.list_from_rows(request)
        return self.list_known_at(request)

    def list_from_rows(self, request):
        """The list from light rows (``selectors.event_rows``) instead of model instances: the same
        JSON as ``EventSerializer`` (see ``api.event_list_data``), in two queries, several times faster."""
        rows = self.paginate_queryset(selectors.event_rows(self.filter_queryset(self.get_queryset())))
        related = selectors.event_related_rows(rows, include_unpublished=self.include_unpublished)
        return self.get_paginated_response(
            api.event_list_data(rows, related, request=request, include_unpublished=self.include_unpublished)
        )

    def retrieve(self, request, *args, **kwargs):
        if getattr(request, "known_at", None) is not None or request.accepted_renderer.format != "json":
            return super().retrieve(request, *args, **kwargs)
        return self.retrieve_from_rows(request)

    def retrieve_from_rows(self, request):
        """One event as JSON from a light row, as the list builds its rows: the same representation
        and ETag as ``EventSerializer`` gives (``test_event_list_data.py``), in two queries instead of four."""
        slug = self.kwargs[self.lookup_field]
        rows = list(selectors.event_rows(self.filter_queryset(self.get_queryset()).filter(slug=slug))[:1])
        if not rows:
            raise Http404("No Event matches the given query.")  # as get_object() says it
        related = selectors.event_related_rows(rows, include_unpublished=self.include_unpublished)
        data = api.event_list_data(rows, related, request=request, include_unpublished=self.include_unpublished)[0]
        response = Response(data)
        response["ETag"] = record_etag(rows[0], data, request.accepted_renderer.format)
        response["Last-Modified"] = http_date(rows[0].updated_at.timestamp())
        return response

    def selector(self, *, include_unpublished):
        # Related rows are re-prefetched with their publication status, so that
        # drafts linked to a published event are left out without a query per row.
        return (
            selectors.event_list(include_unpublished=include_unpublished)
            .select_related("handover__district")
            .prefetch_related(None)
            .prefetch_related(
                Prefetch("districts", queryset=District.objects.only("id", "name", "slug", "publication_status")
                         .order_by("name")),
                Prefetch("parties", queryset=Party.objects.only("id", "name", "slug", "publication_status")
                         .order_by("name")),
                selectors.citations_prefetch(),
            )
        )

    def write(self, request, instance, partial=False):
        if instance is not None and instance.is_derived:
            raise_derived(instance)
        return super().write(request, instance, partial)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        if instance.is_derived:
            raise_derived(instance)
        return super().destroy(request, *args, **kwargs)

    def save(self, instance, data, expected_version):
        districts, parties = data.pop("districts", None), data.pop("parties", None)
        if instance is None:
            return services.event_create(fields=data, districts=districts or (), parties=parties or ())
        return services.event_update(
            event=instance, fields=data, districts=districts, parties=parties, expected_version=expected_version
        )


def raise_derived(event):
    from timeline.api.errors import Conflict

    raise Conflict(
        f"This event is derived ({event.get_origin_display()}) and read-only; change the agreement, deadline, "
        "postponement or handover it comes from."
    )


@extend_schema_view(
    list=_list_doc(
        "Districts and other territories",
        "; `format=geojson` for a GeoJSON FeatureCollection",
        parameters=[search_parameter(filters.DistrictFilter.base_filters["q"].extra["help_text"])],
    ),
    retrieve=extend_schema(summary="One district with its control history"),
)
class DistrictViewSet(ResourceViewSet):
    serializer_class = api.DistrictSerializer
    write_serializer_class = api.DistrictWriteSerializer
    filterset_class = filters.DistrictFilter
    renderer_classes = [*ResourceViewSet.renderer_classes, GeoJSONRenderer]
    lookup_field = "slug"
    basename = "district"
    csv_exclude = ("boundary",)
    known_at_filters = {"kind": "kind"}
    known_at_ordering = ("name", "id")

    def selector(self, *, include_unpublished):
        return selectors.district_list(include_unpublished=include_unpublished)

    def extra_context(self, rows):
        ids = [row.pk for row in rows]
        if getattr(self.request, "known_at", None) is not None:
            return {"control_histories": record_time.control_histories(ids, self.request.known_at, as_of=self.as_of)}
        return {"control_histories": selectors.control_histories(
            ids, as_of=self.as_of, include_unpublished=self.include_unpublished
        )}

    def save(self, instance, data, expected_version):
        return services.record_save(instance=instance or District(), fields=data, expected_version=expected_version)


@extend_schema_view(list=_list_doc("Parties: states, authorities, forces, mediators"))
class PartyViewSet(ResourceViewSet):
    serializer_class = api.PartySerializer
    write_serializer_class = api.PartyWriteSerializer
    filterset_class = filters.PartyFilter
    lookup_field = "slug"
    basename = "party"
    known_at_filters = {"kind": "kind"}
    known_at_ordering = ("name", "id")

    def selector(self, *, include_unpublished):
        return selectors.party_list(include_unpublished=include_unpublished).order_by("name", "id")

    def save(self, instance, data, expected_version):
        return services.record_save(instance=instance or Party(), fields=data, expected_version=expected_version)


@extend_schema_view(list=_list_doc("Sources cited by the records"))
class SourceViewSet(ResourceViewSet):
    serializer_class = api.SourceSerializer
    write_serializer_class = api.SourceWriteSerializer
    filterset_class = filters.SourceFilter
    lookup_field = "slug"
    basename = "source"
    known_at_filters = {"kind": "kind"}
    known_at_ordering = ("title", "id")

    def selector(self, *, include_unpublished):
        return selectors.source_list(include_unpublished=include_unpublished).order_by("title", "id")

    def as_of_filter(self, queryset, day):
        return asof.sources(queryset, day)

    def save(self, instance, data, expected_version):
        return services.record_save(instance=instance or Source(), fields=data, expected_version=expected_version)


@extend_schema_view(
    list=_list_doc("Agreements with signatories, provisions, deadlines and discrepancies"),
    retrieve=extend_schema(
        summary="One agreement with each provision's implementation status",
        description="`provisions` gives each numbered point with its status, status history, deadlines and "
        "whether one is overdue; `implementation` counts them by status. With `as_of`, as they stood that day.",
    ),
)
class AgreementViewSet(ResourceViewSet):
    write_serializer_class = api.AgreementWriteSerializer
    filterset_class = filters.AgreementFilter
    lookup_field = "slug"
    basename = "agreement"
    known_at_filters = {"kind": "kind"}
    known_at_ordering = ("signed_on", "id")

    @property
    def serializer_class(self):
        # The detail adds the provisions' statuses, which need more rows than a list should fetch.
        # (Writes answer with the detail too, so that its ETag is the one If-Match compares.)
        return api.AgreementSerializer if getattr(self, "action", None) == "list" else api.AgreementDetailSerializer

    def selector(self, *, include_unpublished):
        return selectors.agreement_list(
            include_unpublished=include_unpublished, with_provision_states=getattr(self, "action", None) != "list"
        )

    def as_of_filter(self, queryset, day):
        return asof.agreements(queryset, day)

    def save(self, instance, data, expected_version):
        return services.agreement_save(
            agreement=instance or Agreement(), fields=data, expected_version=expected_version
        )


@extend_schema_view(list=_list_doc("Deadlines with their postponements", parameters=[DISTRICT_SLUGS]))
class DeadlineViewSet(ResourceViewSet):
    """``due_on`` moves only through ``POST /deadlines/{id}/postpone/``; ``original_due_on`` is set on creation."""

    serializer_class = api.DeadlineSerializer
    write_serializer_class = api.DeadlineWriteSerializer
    filterset_class = filters.DeadlineFilter
    basename = "deadline"
    lookup_is_integer = True
    error_field_names = {}
    known_at_ordering = ("due_on", "id")

    def selector(self, *, include_unpublished):
        return selectors.deadline_list(include_unpublished=include_unpublished)

    def as_of_filter(self, queryset, day):
        return asof.deadlines(queryset, day)

    def save(self, instance, data, expected_version):
        return services.deadline_save(deadline=instance or Deadline(), fields=data, expected_version=expected_version)

    @extend_schema(
        summary="Postpone a deadline (staff)",
        description="Moves `due_on` to `to_date` and records the postponement; the original date is kept. "
        "If-Match is optional here: when sent, a stale ETag is a 412. Postponing a deadline of a published "
        "agreement is a correction of the agreement: reviewers only, with `public_note` (or `X-Public-Note`).",
        request=api.PostponeSerializer,
        responses={200: api.DeadlineSerializer, 400: error("Invalid body."), 401: error("Not authenticated."),
                   403: error("Not allowed (an editor postponing a deadline of a published agreement)."),
                   404: error("No such deadline."), 409: error("The agreement is withdrawn."),
                   412: error("Stale If-Match."),
                   415: error("The body is not application/json.")},
    )
    @action(detail=True, methods=["post"])
    def postpone(self, request, pk=None):
        deadline = self.get_object()
        if request.headers.get("If-Match"):
            self.check_precondition(deadline)
        note, change_reason = self.workflow_notes(request)
        serializer = api.PostponeSerializer(data=self.record_fields(request), context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            corrected = self.row_corrections(request, [Postponement(deadline=deadline)], note)
            with workflow.change_context(user=request.user, reason=change_reason or "postponed through the API"):
                self.run_service(
                    services.deadline_postpone,
                    deadline=deadline,
                    to_date=data["to_date"],
                    decided_on=data["decided_on"],
                    requested_by=data.get("requested_by"),
                    agreed_by=data.get("agreed_by", []),
                    reason=data.get("reason", ""),
                )
            workflow.record_row_corrections(owners=corrected, user=request.user, note=note)
        return self.record_response(self.reload(deadline))

    postpone.write_perms = ["change"]


@extend_schema_view(list=_list_doc("Handovers of districts with their deadlines and delays", parameters=[DISTRICT_SLUGS]))
class HandoverViewSet(ResourceViewSet):
    serializer_class = api.HandoverSerializer
    write_serializer_class = api.HandoverWriteSerializer
    filterset_class = filters.HandoverFilter
    basename = "handover"
    lookup_is_integer = True
    error_field_names = {}
    known_at_filters = {"status": "status__in"}
    known_at_ordering = ("deadline__original_due_on", "district__name", "id")

    def selector(self, *, include_unpublished):
        return selectors.handover_list(include_unpublished=include_unpublished)

    def as_of_filter(self, queryset, day):
        return asof.handovers(queryset, day)

    def list(self, request, *args, **kwargs):
        if getattr(request, "known_at", None) is not None:
            return self.list_known_at(request)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(api.handover_list_data(
            page, request=request, include_unpublished=self.include_unpublished, day=self.as_of
        ))

    def save(self, instance, data, expected_version):
        return services.handover_save(handover=instance or Handover(), fields=data, expected_version=expected_version)


# --------------------------------------------------------------------------
# Provisions across agreements, and the feed of changes
# --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Numbered provisions of every agreement with their implementation status",
        description="Paginated by page number with an exact `count`: `status` and `overdue` are decided per "
        "provision over the whole (agreement-filtered) record before the page is cut. With `as_of`, as of that day.",
        parameters=[AS_OF_PARAMETER, known_at_parameter(("status", "overdue"))],
        responses={200: api.ProvisionStateSerializer(many=True), 400: error("A filter or as_of is malformed.")},
    )
)
class ProvisionViewSet(ConditionalGetMixin, viewsets.GenericViewSet):
    """``GET /provisions/?status=...&overdue=true&agreement=...``"""

    permission_classes = [AllowAny]
    serializer_class = api.ProvisionStateSerializer
    filterset_class = filters.ProvisionFilter
    pagination_class = PageNumberPagination
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    supports_known_at = True
    known_at_filters = ("status", "overdue")

    def get_queryset(self):
        return selectors.provision_list(include_unpublished=sees_unpublished(self.request))

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        read_known_at(request)

    def list(self, request, *args, **kwargs):
        try:
            day = asof.parse(request.query_params.get(asof.PARAMETER))
        except asof.AsOfError as bad:
            raise exceptions.ValidationError({asof.PARAMETER: [str(bad).split(": ", 1)[1]]}) from None
        known_at = request.known_at
        if known_at is not None:
            # As published at that moment: from the history tables, statuses decided against that day.
            wanted = known_at_query(request, self.filterset_class, self.known_at_filters)
            provisions = record_time.provisions(known_at, day)
            states = [implementation.provision_state(p, day or record_time.today(known_at)) for p in provisions]
        else:
            filterset = self.filterset_class(request.query_params, queryset=self.get_queryset(), request=request)
            if not filterset.is_valid():
                raise exceptions.ValidationError(filterset.errors)
            wanted = filterset.form.cleaned_data
            provisions = filterset.qs
            if day is not None:
                provisions = provisions.filter(agreement__signed_on__lte=day)
            states = [implementation.provision_state(p, day) for p in provisions]
        if wanted.get("status"):
            states = [s for s in states if s.status in wanted["status"]]
        if wanted.get("overdue") is not None:
            states = [s for s in states if s.overdue == wanted["overdue"]]
        page = self.paginate_queryset(states)
        context = {**self.get_serializer_context(), "include_unpublished": sees_unpublished(request), "as_of": day}
        if known_at is not None:
            context.update(known_at_context(known_at))
        return self.get_paginated_response(self.serializer_class(page, many=True, context=context).data)


class ChangePagination(KeysetPagination):
    orderings = {"at": "at"}
    default = "at"


CHANGE_TYPES = {"event": "event", "district": "district", "party": "party", "source": "source",
                "agreement": "agreement", "handover": "handover"}


class ChangeSerializer(serializers.Serializer):
    at = serializers.DateTimeField(read_only=True, help_text="When it was made public.")
    action = serializers.ChoiceField(choices=["published", "corrected", "withdrawn"], read_only=True)
    type = serializers.CharField(source="content_type.model", read_only=True,
                                 help_text="event, district, party, source, agreement or handover.")
    slug = serializers.CharField(read_only=True, help_text="The record's slug at that moment (empty for handovers).")
    id = serializers.IntegerField(source="object_id", read_only=True, help_text="The record's id.")
    title = serializers.CharField(read_only=True, help_text="Its title or name at that moment.")
    note = serializers.CharField(read_only=True, help_text="The public note of a correction or withdrawal.")
    url = serializers.SerializerMethodField(help_text="The record in the API (a withdrawn one answers 404 there; "
                                                      "its public page says it was withdrawn).")

    def get_url(self, obj) -> str | None:
        basename = CHANGE_TYPES.get(obj.content_type.model)
        if basename is None:
            return None
        key = obj.object_id if basename == "handover" or not obj.slug else obj.slug
        return reverse(f"api:{basename}-detail", args=[key], request=self.context.get("request"))


@extend_schema_view(
    list=extend_schema(
        summary="Every public change after a moment, oldest first",
        description="Each act of the editorial workflow: published, corrected (with its public note) and withdrawn "
        "(with its note). Follow `next` until it is null, then poll again with `since` set to the last `at` "
        "(or keep the last `next` link). Records loaded by a dataset import are not acts of review and are not "
        "listed: start from a dataset release or the lists, whose X-Record-Time says where to start the feed.",
        parameters=[OpenApiParameter("since", type=OpenApiTypes.DATETIME, location=OpenApiParameter.QUERY,
                                     description="ISO 8601 timestamp with offset; changes strictly after it. "
                                     "Malformed: 400.")],
    )
)
class ChangeViewSet(ConditionalGetMixin, viewsets.GenericViewSet):
    permission_classes = [AllowAny]
    serializer_class = ChangeSerializer
    pagination_class = ChangePagination
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]
    filter_backends = []

    def get_queryset(self):
        return selectors.change_list()

    def list(self, request, *args, **kwargs):
        raw = request.query_params.get("since")
        since = None
        if raw:
            try:
                since = record_time.parse(raw, now=dt.datetime.max.replace(tzinfo=dt.UTC))
            except record_time.KnownAtError as bad:
                raise exceptions.ValidationError({"since": [str(bad)]}) from None
        page = self.paginate_queryset(selectors.change_list(since=since))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# --------------------------------------------------------------------------
# Root and authentication
# --------------------------------------------------------------------------

COLLECTIONS = ["events", "districts", "parties", "sources", "agreements", "deadlines", "handovers", "provisions",
               "changes"]
BASENAMES = {"events": "event", "districts": "district", "parties": "party", "sources": "source",
             "agreements": "agreement", "deadlines": "deadline", "handovers": "handover", "provisions": "provision",
             "changes": "change"}


class RootView(ConditionalGetMixin, APIView):
    """Every collection of the API, with the schema and the documentation."""

    permission_classes = [AllowAny]

    @extend_schema(
        summary="Every collection of the API",
        responses=inline_serializer(
            name="Root", fields={name: serializers.URLField() for name in [*COLLECTIONS, "schema", "docs"]}
        ),
    )
    def get(self, request, format=None):
        links = {name: reverse(f"api:{BASENAMES[name]}-list", request=request) for name in COLLECTIONS}
        links["schema"] = reverse("api:schema", request=request)
        links["docs"] = reverse("api:docs", request=request)
        return Response(links)


class StaffTokenView(ObtainAuthToken):
    """``POST`` username and password; staff accounts get their token (non-staff: 403)."""

    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Get an API token (staff accounts only)",
        request=inline_serializer(name="TokenRequest", fields={"username": serializers.CharField(),
                                                                "password": serializers.CharField()}),
        responses={200: inline_serializer(name="Token", fields={"token": serializers.CharField()}),
                   400: error("Missing or wrong credentials."), 403: error("Not a staff account.")},
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if not user.is_staff:
            raise exceptions.PermissionDenied("Only staff accounts get API tokens; the API is open to read without one.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class NotFoundView(APIView):
    """A JSON 404 for any address under the API that names nothing."""

    permission_classes = [AllowAny]
    schema = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound(f"Nothing at {request.path}; GET /api/v1/ lists every collection.")
