"""Representations of the API.

Read serializers are plain ``Serializer`` classes over rows the selectors
already joined or prefetched: they never query. Related records appear as
small objects (``slug`` and ``name``, ``title`` for agreements and sources);
an unpublished related record is left out for readers who may not see it.

Write serializers take related records by slug (by id where a record has
none), reject unknown fields, and hand the validated values to
``timeline.services``, which run the model's own validation.
"""

import datetime as dt

from django.db.models import Manager
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from timeline import asof, dates, implementation, links
from timeline.models import (
    Agreement,
    Conflict,
    Deadline,
    District,
    Event,
    Handover,
    Party,
    Precision,
    ProvisionStatus,
    PublicationStatus,
    Source,
)

PUBLISHED = PublicationStatus.PUBLISHED


def _published(obj) -> bool:
    status = getattr(obj, "publication_status", PUBLISHED)
    if status != PUBLISHED:
        return False
    source = getattr(obj, "source", None)
    return source is None or getattr(source, "publication_status", PUBLISHED) == PUBLISHED


def _everything_visible(context) -> bool:
    return bool(context.get("include_unpublished"))


def _as_of(context) -> dt.date | None:
    """The day of ``?as_of=`` (the view puts it in the context), or None for today's record."""
    return context.get("as_of")


def _today(context) -> dt.date:
    """Today, or with ``?known_at=`` the day it was then: what overdue and current statuses are decided against."""
    return context.get("today") or timezone.localdate()


class VisibleListSerializer(serializers.ListSerializer):
    """A list of related records without those the reader may not see (no query: filtered in Python)."""

    def to_representation(self, data):
        items = data.all() if isinstance(data, Manager) else data
        if not _everything_visible(self.context):
            items = [item for item in items if _published(item)]
        return [self.child.to_representation(item) for item in items]


class RefSerializer(serializers.Serializer):
    """A related record as a small object; null when the reader may not see it."""

    class Meta:
        list_serializer_class = VisibleListSerializer

    def get_attribute(self, instance):
        obj = super().get_attribute(instance)
        if obj is not None and not _everything_visible(self.context) and not _published(obj):
            return None
        return obj


class PartyRefSerializer(RefSerializer):
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)


class DistrictRefSerializer(RefSerializer):
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)


class AgreementRefSerializer(RefSerializer):
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)


class ConflictRefSerializer(serializers.Serializer):
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)


class SourceRefSerializer(RefSerializer):
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    publisher = serializers.CharField(read_only=True, help_text="Empty when unknown.")
    url = serializers.CharField(read_only=True, help_text="Where the document is; empty when it has no public address.")


class CitationSerializer(RefSerializer):
    """A source cited for the record, with the passage it supports."""

    source = SourceRefSerializer(read_only=True)
    passage = serializers.CharField(read_only=True, help_text="The words of the source that support the record.")
    locator = serializers.CharField(read_only=True, help_text="Where in the source: 'point 6', 'paragraph 3'.")


class HandoverRefSerializer(RefSerializer):
    id = serializers.IntegerField(read_only=True)
    district = DistrictRefSerializer(read_only=True)
    status = serializers.CharField(read_only=True)


class AbsoluteURLField(serializers.Field):
    """The absolute address of the record's public page."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, obj):
        request = self.context.get("request")
        path = obj.get_absolute_url()
        return request.build_absolute_uri(path) if request is not None else path


AbsoluteURLField = extend_schema_field({"type": "string", "format": "uri"})(AbsoluteURLField)


@extend_schema_field({"type": "string", "format": "date-time", "nullable": True})
class LocalDateTimeField(serializers.Field):
    """A moment in ISO 8601 with the offset of the zone it is given in, not converted to UTC."""

    def to_representation(self, value):
        return value.isoformat() if value is not None else None


STATUS_HELP = "Publication status: draft, in_review, published or withdrawn. Anonymous clients only see published."


def status_field(**kwargs):
    return serializers.ChoiceField(
        choices=PublicationStatus.choices, source="publication_status", read_only=True, help_text=STATUS_HELP, **kwargs
    )


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


class PartySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)
    short_name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Party.Kind.choices, read_only=True)
    description = serializers.CharField(read_only=True)
    colour = serializers.CharField(read_only=True, help_text="Colour on maps, e.g. #1f77b4; empty if none.")
    status = status_field()
    updated_at = serializers.DateTimeField(read_only=True)


class SourceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Source.Kind.choices, read_only=True)
    publisher = serializers.CharField(read_only=True, help_text="Empty when unknown.")
    author = serializers.CharField(read_only=True)
    published_on = serializers.DateField(read_only=True, allow_null=True, help_text="First day of its period.")
    published_on_precision = serializers.ChoiceField(choices=Precision.choices, read_only=True)
    url = serializers.CharField(read_only=True, help_text="Where the document is; empty when it has no public address.")
    language = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    status = status_field()
    updated_at = serializers.DateTimeField(read_only=True)


class AliasSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    language = serializers.CharField(read_only=True, help_text="BCP 47 tag: en, az, hy, ru ...")
    kind = serializers.CharField(read_only=True)


class ControlPeriodSerializer(serializers.Serializer):
    party = PartyRefSerializer(read_only=True)
    since = serializers.DateField(read_only=True)
    since_precision = serializers.ChoiceField(choices=Precision.choices, read_only=True)
    until = serializers.DateField(read_only=True, allow_null=True, help_text="Null while it still holds.")
    until_precision = serializers.ChoiceField(choices=Precision.choices, read_only=True, allow_null=True)
    via = serializers.ChoiceField(choices=["handover", "event"], read_only=True)
    via_slug = serializers.CharField(read_only=True, help_text="The district slug (handover) or the event slug.")


class DistrictSerializer(serializers.Serializer):
    """``controlled_by`` and ``control_history`` come from the view's context,
    computed for the whole page at once (``selectors.control_histories``)."""

    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=District.Kind.choices, read_only=True)
    conflict = ConflictRefSerializer(read_only=True)
    aliases = AliasSerializer(many=True, read_only=True)
    latitude = serializers.FloatField(read_only=True, allow_null=True)
    longitude = serializers.FloatField(read_only=True, allow_null=True)
    boundary = serializers.JSONField(
        read_only=True, allow_null=True, help_text="GeoJSON Polygon or MultiPolygon (WGS 84), or null."
    )
    parent = DistrictRefSerializer(read_only=True, allow_null=True)
    description = serializers.CharField(read_only=True)
    controlled_by = serializers.SerializerMethodField(help_text="Who holds it now, from its control history.")
    control_history = serializers.SerializerMethodField()
    url = AbsoluteURLField()
    status = status_field()
    updated_at = serializers.DateTimeField(read_only=True)

    def _history(self, obj):
        return self.context.get("control_histories", {}).get(obj.pk, [])

    @extend_schema_field(PartyRefSerializer(allow_null=True))
    def get_controlled_by(self, obj):
        history = self._history(obj)
        if not history:
            return None
        party = history[-1].party
        return {"slug": party.slug, "name": party.name}

    @extend_schema_field(ControlPeriodSerializer(many=True))
    def get_control_history(self, obj):
        return ControlPeriodSerializer(self._history(obj), many=True, context=self.context).data


class PostponementSerializer(serializers.Serializer):
    sequence = serializers.IntegerField(read_only=True, help_text="1 for the first postponement, 2 for the next ...")
    from_date = serializers.DateField(read_only=True)
    to_date = serializers.DateField(read_only=True)
    requested_by = PartyRefSerializer(read_only=True, allow_null=True)
    agreed_by = PartyRefSerializer(many=True, read_only=True)
    reason = serializers.CharField(read_only=True)
    decided_on = serializers.DateField(read_only=True)
    sources = CitationSerializer(source="citations", many=True, read_only=True)


def _completed_handover(deadline) -> bool:
    try:
        handover = deadline.handover
    except Handover.DoesNotExist:
        return False
    return handover.completed_on is not None


def is_overdue(deadline, today: dt.date | None = None) -> bool:
    today = today or timezone.localdate()
    return deadline.due_on < today and not _completed_handover(deadline)


class DeadlineBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    obligation = serializers.CharField(read_only=True)
    district = DistrictRefSerializer(read_only=True, allow_null=True)
    original_due_on = serializers.DateField(read_only=True)
    due_on = serializers.DateField(read_only=True)
    overdue = serializers.SerializerMethodField()

    def get_overdue(self, obj) -> bool:
        return is_overdue(obj, _today(self.context))

    def to_representation(self, obj):
        data = super().to_representation(obj)
        day = _as_of(self.context)
        if day is not None:
            # As of a past day: the due date decided by then, overdue by then.
            state = implementation.deadline_state(obj, day)
            data["due_on"] = state.due_on.isoformat()
            data["overdue"] = state.overdue
            if "postponements" in data:
                data["postponements"] = data["postponements"][: len(state.postponements)]
            if data.get("handover"):
                data["handover"]["status"] = asof.handover_state(obj.handover, day).status
        return data


class DeadlineSerializer(DeadlineBriefSerializer):
    agreement = AgreementRefSerializer(read_only=True)
    provision = serializers.IntegerField(source="provision.number", read_only=True, allow_null=True,
                                         help_text="The number of the agreement's point that sets it.")
    obligated_party = PartyRefSerializer(read_only=True, allow_null=True)
    postponements = PostponementSerializer(many=True, read_only=True)
    handover = serializers.SerializerMethodField()
    sources = CitationSerializer(source="citations", many=True, read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(HandoverRefSerializer(allow_null=True))
    def get_handover(self, obj):
        try:
            handover = obj.handover
        except Handover.DoesNotExist:
            return None
        if not _everything_visible(self.context) and not _published(handover):
            return None
        return {"id": handover.pk, "district": DistrictRefSerializer(obj.district, context=self.context).data
                if obj.district_id else None, "status": handover.status}

    def get_overdue(self, obj) -> bool:
        return is_overdue(obj, _today(self.context))


class SignatorySerializer(serializers.Serializer):
    party = PartyRefSerializer(read_only=True, allow_null=True)
    person = serializers.CharField(source="person_name", read_only=True)
    role = serializers.CharField(read_only=True)
    capacity = serializers.CharField(read_only=True, help_text="signatory, mediator, guarantor or witness.")


class ProvisionSerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True)
    summary = serializers.CharField(read_only=True)


class EventRefSerializer(RefSerializer):
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    url = AbsoluteURLField()


class EvidenceSerializer(serializers.Serializer):
    events = EventRefSerializer(source="evidence_events", many=True, read_only=True,
                                help_text="Timeline entries that show it.")
    handovers = HandoverRefSerializer(source="evidence_handovers", many=True, read_only=True,
                                      help_text="Handovers that show it (completed ones for derived entries).")


class StatusEntrySerializer(serializers.Serializer):
    """One step of a provision's status history, recorded by editors or derived from handovers."""

    status = serializers.ChoiceField(choices=ProvisionStatus.choices, read_only=True)
    from_date = serializers.DateField(read_only=True, help_text="The day this status took effect.")
    claimed_by = PartyRefSerializer(read_only=True, allow_null=True,
                                    help_text="The party asserting it; null when the record establishes it.")
    derived = serializers.BooleanField(read_only=True,
                                       help_text="True when it follows from completed handovers, not typed by an editor.")
    note = serializers.CharField(read_only=True)
    sources = CitationSerializer(source="citations", many=True, read_only=True)
    evidence = EvidenceSerializer(
        source="*", read_only=True, allow_null=True,
        help_text="Null with known_at for an entry editors recorded: which records they linked as its evidence "
        "is not kept in the history, so it cannot be told as it was then.",
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.context.get("known_at") is not None and not instance.derived:
            data["evidence"] = None  # see timeline.record_time.WITHOUT_HISTORY
        return data


class ProvisionDeadlineSerializer(serializers.Serializer):
    """A deadline the provision sets, as it stood on the day asked (today by default)."""

    id = serializers.IntegerField(source="deadline.pk", read_only=True)
    obligation = serializers.CharField(source="deadline.obligation", read_only=True)
    district = DistrictRefSerializer(source="deadline.district", read_only=True, allow_null=True)
    original_due_on = serializers.DateField(read_only=True)
    due_on = serializers.DateField(read_only=True, help_text="The due date decided by then (postponements included).")
    status = serializers.ChoiceField(choices=["scheduled", "postponed", "completed", "cancelled", "overdue"],
                                     read_only=True)
    completed_on = serializers.DateField(read_only=True, allow_null=True)
    days_late = serializers.IntegerField(
        read_only=True, allow_null=True,
        help_text="Completed: days after the original date (negative: early). Overdue: days past the due date.",
    )
    overdue = serializers.BooleanField(read_only=True)


class ProvisionStateSerializer(serializers.Serializer):
    """A numbered provision with its implementation status (see ``timeline.implementation``)."""

    agreement = AgreementRefSerializer(source="provision.agreement", read_only=True)
    number = serializers.IntegerField(source="provision.number", read_only=True)
    summary = serializers.CharField(source="provision.summary", read_only=True)
    status = serializers.ChoiceField(
        choices=ProvisionStatus.choices, read_only=True,
        help_text="The latest established status, or 'disputed' when parties' claims and the record disagree; "
        "'not_started' when nothing is recorded.",
    )
    status_since = serializers.DateField(source="basis.from_date", read_only=True, allow_null=True,
                                         default=None, help_text="When the current status took effect.")
    status_sources = CitationSerializer(source="basis.citations", many=True, read_only=True, default=(),
                                        help_text="The sources of the current status.")
    claims = StatusEntrySerializer(many=True, read_only=True,
                                   help_text="When disputed: each party's latest claim, beside the established status.")
    status_history = StatusEntrySerializer(source="history", many=True, read_only=True)
    deadlines = ProvisionDeadlineSerializer(many=True, read_only=True)
    overdue = serializers.BooleanField(read_only=True, help_text="True when one of its deadlines is overdue.")


class ImplementationSerializer(serializers.Serializer):
    total = serializers.IntegerField(read_only=True, help_text="Number of provisions.")
    counts = serializers.DictField(
        child=serializers.IntegerField(), read_only=True,
        help_text="Provisions in each status: " + ", ".join(ProvisionStatus.values) + ".",
    )
    overdue = serializers.IntegerField(read_only=True, help_text="Provisions with an overdue deadline.")
    sentence = serializers.CharField(read_only=True, help_text="e.g. '6 of 9 provisions implemented, 1 overdue'.")


def provision_states(agreement, context) -> list:
    """The agreement's provisions as of the context's day, computed once per agreement."""
    day = _as_of(context) or _today(context)
    cached = getattr(agreement, "_provision_states", None)
    if cached is None or cached[0] != day:
        cached = (day, [implementation.provision_state(p, day) for p in agreement.provisions.all()])
        agreement._provision_states = cached
    return cached[1]


class DiscrepancySerializer(serializers.Serializer):
    aspect = serializers.CharField(read_only=True, help_text="What the sources disagree on.")
    description = serializers.CharField(read_only=True, help_text="What each source says, without choosing.")
    sources = SourceRefSerializer(many=True, read_only=True)


class AgreementSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    short_title = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Agreement.Kind.choices, read_only=True)
    conflict = ConflictRefSerializer(read_only=True)
    summary = serializers.CharField(read_only=True)
    signed_on = serializers.DateField(read_only=True, help_text="First day of its period.")
    signed_on_precision = serializers.ChoiceField(choices=Precision.choices, read_only=True)
    signed_on_display = serializers.CharField(read_only=True)
    signed_at_place = serializers.CharField(read_only=True)
    effective_at = LocalDateTimeField(
        source="effective_local", read_only=True,
        help_text="The moment it took effect, with the offset of effective_timezone (e.g. 2020-11-10T00:00:00+03:00).",
    )
    effective_timezone = serializers.CharField(read_only=True, help_text="IANA zone, e.g. Europe/Moscow.")
    signatories = SignatorySerializer(many=True, read_only=True)
    provisions = ProvisionSerializer(many=True, read_only=True)
    deadlines = DeadlineBriefSerializer(many=True, read_only=True)
    discrepancies = DiscrepancySerializer(many=True, read_only=True)
    sources = CitationSerializer(source="citations", many=True, read_only=True)
    url = AbsoluteURLField()
    status = status_field()
    updated_at = serializers.DateTimeField(read_only=True)


class AgreementDetailSerializer(AgreementSerializer):
    """One agreement with each provision's implementation status and the summary of them."""

    provisions = serializers.SerializerMethodField()
    implementation = serializers.SerializerMethodField()

    @extend_schema_field(ProvisionStateSerializer(many=True))
    def get_provisions(self, obj):
        return ProvisionStateSerializer(provision_states(obj, self.context), many=True, context=self.context).data

    @extend_schema_field(ImplementationSerializer)
    def get_implementation(self, obj):
        summary = implementation.summarise(provision_states(obj, self.context))
        return {"total": summary.total, "counts": summary.counts, "overdue": summary.overdue,
                "sentence": summary.sentence()}


class HandoverSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    district = DistrictRefSerializer(read_only=True)
    from_party = PartyRefSerializer(read_only=True)
    to_party = PartyRefSerializer(read_only=True)
    agreement = AgreementRefSerializer(read_only=True, allow_null=True)
    deadline = serializers.IntegerField(source="deadline_id", read_only=True, allow_null=True,
                                        help_text="Id of its deadline (see /deadlines/{id}/).")
    status = serializers.ChoiceField(choices=Handover.Status.choices, read_only=True,
                                     help_text="Derived: scheduled, postponed, completed or cancelled.")
    original_due_on = serializers.DateField(read_only=True, allow_null=True, help_text="The date the text set.")
    due_on = serializers.DateField(read_only=True, allow_null=True, help_text="The current, possibly postponed, date.")
    completed_on = serializers.DateField(read_only=True, allow_null=True)
    cancelled_on = serializers.DateField(read_only=True, allow_null=True)
    delay_days = serializers.IntegerField(
        read_only=True, allow_null=True,
        help_text="completed_on minus original_due_on, in days (negative if early); null until completed.",
    )
    delay_against_current_days = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="completed_on minus due_on; null until completed."
    )
    postponements = serializers.SerializerMethodField()
    summary = serializers.CharField(read_only=True)
    sources = CitationSerializer(source="citations", many=True, read_only=True)
    url = AbsoluteURLField()
    publication_status = serializers.ChoiceField(choices=PublicationStatus.choices, read_only=True, help_text=STATUS_HELP)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(PostponementSerializer(many=True))
    def get_postponements(self, obj):
        if obj.deadline_id is None:
            return []
        postponements = obj.deadline.postponements.all()
        day = _as_of(self.context)
        if day is not None:
            postponements = [p for p in postponements if p.decided_on <= day]
        return PostponementSerializer(postponements, many=True, context=self.context).data

    def to_representation(self, obj):
        data = super().to_representation(obj)
        day = _as_of(self.context)
        if day is not None:
            state = asof.handover_state(obj, day)
            for name in ("status", "due_on", "completed_on", "cancelled_on"):
                value = getattr(state, name)
                data[name] = value.isoformat() if isinstance(value, dt.date) else value
            data["delay_days"] = state.delay_days
            data["delay_against_current_days"] = state.delay_against_current_days
        return data


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    slug = serializers.SlugField(read_only=True)
    title = serializers.CharField(read_only=True)
    summary = serializers.CharField(read_only=True)
    body = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Event.Kind.choices, read_only=True)
    origin = serializers.ChoiceField(
        choices=Event.Origin.choices, read_only=True,
        help_text="editorial, or the record this entry is derived from (derived entries are read-only).",
    )
    date = serializers.DateField(read_only=True, help_text="First day of the period: 1988-02-01 for February 1988.")
    date_precision = serializers.ChoiceField(choices=Precision.choices, read_only=True)
    end_date = serializers.DateField(read_only=True, allow_null=True)
    end_date_precision = serializers.CharField(read_only=True, help_text="day, month, year, or empty without end_date.")
    date_display = serializers.CharField(read_only=True, help_text="The date as a reader sees it: 'February 1988'.")
    is_claim = serializers.BooleanField(read_only=True, help_text="True when one side states it, not established fact.")
    claimed_by = PartyRefSerializer(read_only=True, allow_null=True)
    districts = DistrictRefSerializer(many=True, read_only=True)
    parties = PartyRefSerializer(many=True, read_only=True)
    agreement = AgreementRefSerializer(read_only=True, allow_null=True)
    handover = HandoverRefSerializer(read_only=True, allow_null=True)
    sources = CitationSerializer(source="citations", many=True, read_only=True)
    url = AbsoluteURLField()
    status = status_field()
    updated_at = serializers.DateTimeField(read_only=True)


_DATETIME = serializers.DateTimeField(read_only=True)


def _datetime_representer():
    """``DateTimeField().to_representation`` for a whole list, with the reader's zone looked up once."""
    zone = _DATETIME.default_timezone()
    if zone is None or (api_settings.DATETIME_FORMAT or "").lower() != ISO_8601:
        return _DATETIME.to_representation

    def represent(value):
        if value is None or value.utcoffset() is None:
            return _DATETIME.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return represent
def event_url_maker(request):
    """A function slug -> what ``AbsoluteURLField`` gives for that event, for a whole list:
    no ``reverse()`` per row (``links.slug_paths``) and one ``build_absolute_uri``."""
    path = links.slug_paths("timeline:event-detail")
    if request is None:
        return path
    marker = "slug-placeholder"
    prefix, suffix = path(marker).split(marker, 1)
    prefix = request.build_absolute_uri(prefix)

    def url(slug: str) -> str:
        if links.is_plain_slug(slug):
            return f"{prefix}{slug}{suffix}"
        return request.build_absolute_uri(path(slug))

    return url


def event_list_data(rows, related, *, request=None, include_unpublished: bool = False) -> list[dict]:
    """The ``EventSerializer`` representation of a page of events, built from light rows.

    ``rows`` come from ``selectors.event_rows`` and ``related`` from
    ``selectors.event_related_rows`` (which already left out the districts,
    parties and sources the reader may not see; the claiming party, agreement
    and handover are checked here, by their status). The output is the same, key
    for key and in the same order, as ``EventSerializer(many=True)`` over the
    same events (``test_event_list_data.py`` compares them), at a fraction of
    the cost: no serializer field is bound or called per row.
    """
    url = event_url_maker(request)
    everything = include_unpublished
    datetime_repr = _datetime_representer()
    districts, parties, citations = related.districts, related.parties, related.citations
    claimants, agreements, handovers = {}, {}, {}
    for pk, (slug, name, status) in related.claimants.items():
        if everything or status == PUBLISHED:
            claimants[pk] = {"slug": slug, "name": name}
    for pk, (slug, title, status) in related.agreements.items():
        if everything or status == PUBLISHED:
            agreements[pk] = {"slug": slug, "title": title}
    for pk, (handover_status, status, district_slug, district_name, district_status) in related.handovers.items():
        if everything or status == PUBLISHED:
            district = None
            if district_slug is not None and (everything or district_status == PUBLISHED):
                district = {"slug": district_slug, "name": district_name}
            handovers[pk] = {"id": pk, "district": district, "status": handover_status}
    data = []
    for row in rows:
        # Shared between the rows that name the same record; orjson writes each where it appears.
        claimed_by = claimants.get(row.claimed_by_id)
        agreement = agreements.get(row.agreement_id)
        handover = handovers.get(row.handover_id)
        end_date, end_precision = row.end_date, row.end_date_precision
        data.append({
            "id": row.pk,
            "slug": row.slug,
            "title": row.title,
            "summary": row.summary,
            "body": row.body,
            "kind": row.kind,
            "origin": row.origin,
            "date": row.date.isoformat(),
            "date_precision": row.date_precision,
            "end_date": end_date.isoformat() if end_date is not None else None,
            "end_date_precision": end_precision,
            "date_display": dates.format_span(row.date, row.date_precision, end_date, end_precision or None),
            "is_claim": row.claimed_by_id is not None,
            "claimed_by": claimed_by,
            "districts": [{"slug": slug, "name": name} for slug, name in districts.get(row.pk, ())],
            "parties": [{"slug": slug, "name": name} for slug, name in parties.get(row.pk, ())],
            "agreement": agreement,
            "handover": handover,
            "sources": [
                {"source": {"slug": slug, "title": title, "publisher": publisher, "url": source_url},
                 "passage": passage, "locator": locator}
                for slug, title, publisher, source_url, passage, locator in citations.get(row.pk, ())
            ],
            "url": url(row.slug),
            "status": row.publication_status,
            "updated_at": datetime_repr(row.updated_at),
        })
    return data



def _date(value) -> str | None:
    return value.isoformat() if value is not None else None


def _ref_data(obj, everything: bool, *names: str) -> dict | None:
    """What a ``RefSerializer`` of ``names`` gives for ``obj``: None when absent or not visible."""
    if obj is None or not (everything or _published(obj)):
        return None
    return {name: getattr(obj, name) for name in names}


def _citations_data(citations, everything: bool) -> list[dict]:
    """``CitationSerializer(many=True)`` of prefetched citations (those of unpublished sources left out)."""
    return [
        {"source": _ref_data(c.source, everything, "slug", "title", "publisher", "url"),
         "passage": c.passage, "locator": c.locator}
        for c in citations if everything or _published(c)
    ]


def handover_list_data(handovers, *, request=None, include_unpublished: bool = False,
                       day: dt.date | None = None) -> list[dict]:
    """The ``HandoverSerializer`` representation of a page of handovers (``selectors.handover_list``,
    related records joined and prefetched), as of ``day`` when given.

    The same output, key for key and in the same order, as the serializer
    (``test_handover_list_data.py`` compares them), without binding and calling
    some forty serializer fields per handover: the tracker's list was the
    slowest of the API at a million events.
    """
    everything = include_unpublished
    datetime_repr = _datetime_representer()
    data = []
    for h in handovers:
        postponements = []
        if h.deadline_id is not None:
            postponements = [
                {
                    "sequence": p.sequence,
                    "from_date": _date(p.from_date),
                    "to_date": _date(p.to_date),
                    "requested_by": _ref_data(p.requested_by, everything, "slug", "name"),
                    "agreed_by": [{"slug": a.slug, "name": a.name} for a in p.agreed_by.all()
                                  if everything or _published(a)],
                    "reason": p.reason,
                    "decided_on": _date(p.decided_on),
                    "sources": _citations_data(p.citations.all(), everything),
                }
                for p in h.deadline.postponements.all()
                if day is None or p.decided_on <= day
            ]
        if day is None:
            status, due_on, completed_on, cancelled_on = h.status, h.due_on, h.completed_on, h.cancelled_on
            delay, delay_current = h.delay_days, h.delay_against_current_days
        else:
            state = asof.handover_state(h, day)
            status, due_on, completed_on, cancelled_on = state.status, state.due_on, state.completed_on, state.cancelled_on
            delay, delay_current = state.delay_days, state.delay_against_current_days
        path = h.get_absolute_url()
        data.append({
            "id": h.pk,
            "district": _ref_data(h.district, everything, "slug", "name"),
            "from_party": _ref_data(h.from_party, everything, "slug", "name"),
            "to_party": _ref_data(h.to_party, everything, "slug", "name"),
            "agreement": _ref_data(h.agreement, everything, "slug", "title"),
            "deadline": h.deadline_id,
            "status": status,
            "original_due_on": _date(h.original_due_on),
            "due_on": _date(due_on),
            "completed_on": _date(completed_on),
            "cancelled_on": _date(cancelled_on),
            "delay_days": delay,
            "delay_against_current_days": delay_current,
            "postponements": postponements,
            "summary": h.summary,
            "sources": _citations_data(h.citations.all(), everything),
            "url": request.build_absolute_uri(path) if request is not None else path,
            "publication_status": h.publication_status,
            "updated_at": datetime_repr(h.updated_at),
        })
    return data

# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


class StrictWriteSerializer(serializers.ModelSerializer):
    """Rejects fields it does not know (or that cannot be written) instead of ignoring them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": [f"Send a JSON object, not {type(data).__name__}."]}
            )
        writable = {name for name, field in self.fields.items() if not field.read_only}
        unknown = sorted(set(data) - writable)
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown or read-only field; writable fields are: " + ", ".join(sorted(writable)) + "."]
                 for name in unknown}
            )
        return super().to_internal_value(data)


def slug_of(model, **kwargs):
    return serializers.SlugRelatedField(slug_field="slug", queryset=model.objects.all(), **kwargs)


def conflict_field():
    return serializers.SlugRelatedField(
        slug_field="slug", queryset=Conflict.objects.all(), required=False,
        help_text="Slug of the conflict. May be left out while the database holds one conflict.",
    )


def write_status_field():
    return serializers.ChoiceField(
        choices=PublicationStatus.choices, source="publication_status", required=False, help_text=STATUS_HELP
    )


class DefaultConflictMixin:
    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is None and "conflict" not in attrs:
            conflicts = list(Conflict.objects.all()[:2])
            if len(conflicts) != 1:
                raise serializers.ValidationError({"conflict": ["Say which conflict (its slug)."]})
            attrs["conflict"] = conflicts[0]
        return attrs


class PartyWriteSerializer(StrictWriteSerializer):
    slug = serializers.SlugField(max_length=120, required=False, help_text="Made from the name when left out.")
    status = write_status_field()

    class Meta:
        model = Party
        fields = ["slug", "name", "short_name", "kind", "description", "colour", "status"]


class SourceWriteSerializer(StrictWriteSerializer):
    slug = serializers.SlugField(max_length=120, required=False, help_text="Made from the title when left out.")
    status = write_status_field()

    class Meta:
        model = Source
        fields = ["slug", "title", "kind", "publisher", "author", "published_on", "published_on_precision", "url",
                  "language", "description", "status"]


class DistrictWriteSerializer(DefaultConflictMixin, StrictWriteSerializer):
    slug = serializers.SlugField(max_length=120, required=False, help_text="Made from the name when left out.")
    conflict = conflict_field()
    parent = slug_of(District, required=False, allow_null=True)
    status = write_status_field()

    class Meta:
        model = District
        fields = ["slug", "name", "kind", "conflict", "parent", "latitude", "longitude", "boundary", "description",
                  "status"]
        validators = []  # (conflict, name) uniqueness: checked by full_clean, after the default conflict is chosen


class AgreementWriteSerializer(DefaultConflictMixin, StrictWriteSerializer):
    slug = serializers.SlugField(max_length=120, required=False, help_text="Made from the title when left out.")
    conflict = conflict_field()
    status = write_status_field()

    class Meta:
        model = Agreement
        fields = ["slug", "title", "short_title", "kind", "conflict", "summary", "signed_on", "signed_on_precision",
                  "signed_at_place", "effective_at", "effective_timezone", "status"]


class DeadlineWriteSerializer(StrictWriteSerializer):
    """``original_due_on`` is set once, on creation; ``due_on`` only moves through ``postpone``."""

    agreement = slug_of(Agreement)
    district = slug_of(District, required=False, allow_null=True)
    obligated_party = slug_of(Party, required=False, allow_null=True)

    class Meta:
        model = Deadline
        fields = ["agreement", "provision", "district", "obligation", "obligated_party", "original_due_on"]
        validators = []  # (agreement, obligation) uniqueness: checked by full_clean with the model's message

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None:
            fields["original_due_on"].read_only = True
        return fields


class PostponeSerializer(serializers.Serializer):
    to_date = serializers.DateField(help_text="The new due date.")
    decided_on = serializers.DateField(help_text="The day the postponement was agreed or announced.")
    requested_by = slug_of(Party, required=False, allow_null=True)
    agreed_by = slug_of(Party, many=True, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field; send " + ", ".join(self.fields) + "."] for name in unknown}
                )
        return super().to_internal_value(data)


class HandoverWriteSerializer(StrictWriteSerializer):
    district = slug_of(District)
    agreement = slug_of(Agreement, required=False, allow_null=True)
    from_party = slug_of(Party)
    to_party = slug_of(Party)
    deadline = serializers.PrimaryKeyRelatedField(queryset=Deadline.objects.all(), required=False, allow_null=True,
                                                  help_text="Id of the deadline this handover fulfils.")

    class Meta:
        model = Handover
        fields = ["district", "agreement", "deadline", "from_party", "to_party", "completed_on", "cancelled_on",
                  "summary", "publication_status"]
        validators = []  # the (district, agreement) uniqueness is checked by full_clean with the model's message


class EventWriteSerializer(DefaultConflictMixin, StrictWriteSerializer):
    slug = serializers.SlugField(max_length=140, required=False, help_text="Made from the date and title when left out.")
    conflict = conflict_field()
    claimed_by = slug_of(Party, required=False, allow_null=True)
    districts = slug_of(District, many=True, required=False)
    parties = slug_of(Party, many=True, required=False)
    agreement = slug_of(Agreement, required=False, allow_null=True)
    end_date_precision = serializers.ChoiceField(choices=Precision.choices, required=False, allow_blank=True)
    status = write_status_field()

    class Meta:
        model = Event
        fields = ["slug", "conflict", "title", "summary", "body", "kind", "date", "date_precision", "end_date",
                  "end_date_precision", "claimed_by", "districts", "parties", "agreement", "status"]
