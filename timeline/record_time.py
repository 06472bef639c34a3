"""The record as it was published at a moment (record time, ``?known_at=``).

Built on the django-simple-history tables, not on a second copy: for each
record, the latest historical row with ``history_date <= known_at`` is its
state at that moment (``latest_rows``). A record with a publication status
belongs to the answer when that state was published; one without a status of
its own (deadlines, provisions) when the record it belongs to was
(``visible_rows``, the rule of ``selectors``). So a record corrected since
shows its old text, one published later is absent, and one withdrawn since is
present.

Everything a representation shows comes from the history tables at the same
moment (``prefetch``, one generic helper for every model): to-one records
(a handover's district, a deadline's agreement), to-many rows (a district's
aliases, an agreement's signatories, provisions, deadlines and discrepancies,
a deadline's postponements, a provision's status changes, the citations of
each) and many-to-many links where their history is kept (an event's
districts and parties, a postponement's ``agreed_by``, a discrepancy's
sources). Linked records are shown with their names of that moment, and left
out when they were not published then.

One thing cannot be rebuilt: which events and handovers were linked as
*evidence* of a provision's recorded status change. Those links have no
history (``WITHOUT_HISTORY``); the API says ``evidence: null`` for such an
entry rather than guess (docs/api.md).

Every query here is a fixed number per page: one for the historical rows,
one per relation (two for a many-to-many: its links, then the records).
"""

import datetime as dt
from collections import defaultdict

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from timeline import asof, dates, selectors, workflow
from timeline.models import (
    Agreement,
    ControlChange,
    Deadline,
    District,
    Event,
    Handover,
    Party,
    Provision,
    ProvisionStatusChange,
    PublicationStatus,
    Source,
)

PARAMETER = "known_at"
HEADER = "X-Record-Time"
INVALID = "Give an ISO 8601 timestamp with its offset, e.g. 2020-11-26T12:00:00Z"


class KnownAtError(ValueError):
    pass


def parse(raw: str | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The moment of ``?known_at=``: None when absent, ``KnownAtError`` when malformed or in the future."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise KnownAtError(f"{INVALID} (got {value[:40]!r}).") from None
    if len(value) <= 10 or moment.tzinfo is None:
        raise KnownAtError(f"{INVALID}; a moment without an offset is ambiguous (got {value[:40]!r}).")
    try:
        # In UTC: the database takes offsets only up to 15:59, ISO 8601 up to 23:59.
        moment = moment.astimezone(dt.UTC)
    except OverflowError:
        raise KnownAtError(f"{INVALID}; {value[:40]!r} is out of range.") from None
    if moment > (now or timezone.now()):
        raise KnownAtError(f"{value[:40]!r} is in the future; the record is only known up to now.")
    return moment


def header_value(known_at: dt.datetime | None) -> str:
    """``X-Record-Time``: the moment an answer reflects, in UTC to the microsecond."""
    moment = (known_at or timezone.now()).astimezone(dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def today(known_at: dt.datetime) -> dt.date:
    """The day a reader at ``known_at`` called today (what overdue and current statuses were decided against)."""
    return timezone.localdate(known_at)


# --------------------------------------------------------------------------
# Each record's state at a moment
# --------------------------------------------------------------------------


def latest_rows(model, known_at: dt.datetime) -> QuerySet:
    """Historical rows of ``model``: each record's latest state at ``known_at`` (deleted ones left out)."""
    history = model.history.model
    latest = (
        history.objects.filter(id=OuterRef("id"), history_date__lte=known_at)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    return history.objects.filter(history_date__lte=known_at, history_id=Subquery(latest)).exclude(history_type="-")


# Records without a publication status of their own are public with the record they belong to
# (as in selectors.deadline_list and selectors.provision_list).
VISIBLE_WITH = {Deadline: "agreement", Provision: "agreement"}


def visible_rows(model, known_at: dt.datetime) -> QuerySet:
    """Historical rows of the records of ``model`` a reader could see at ``known_at``, as they were then."""
    rows = latest_rows(model, known_at)
    if workflow.is_publishable(model):
        return rows.filter(publication_status=PublicationStatus.PUBLISHED)
    parent = model._meta.get_field(VISIBLE_WITH[model])
    return rows.filter(**{f"{parent.attname}__in": visible_rows(parent.related_model, known_at).values("id")})


def as_of_rows(model, rows: QuerySet, day: dt.date | None, known_at: dt.datetime) -> QuerySet:
    """``rows`` narrowed to what existed at the end of ``day`` (the rules of ``timeline.asof``),
    with the signing dates of agreements as they were recorded at ``known_at``."""
    if day is None:
        return rows
    if model in (Event, Agreement, Source):
        return {Event: asof.events, Agreement: asof.agreements, Source: asof.sources}[model](rows, day)
    signed = Q(agreement_id__in=latest_rows(Agreement, known_at).filter(signed_on__lte=day).values("id"))
    if model in (Deadline, Provision):
        return rows.filter(signed)
    if model is Handover:
        return rows.filter(signed | Q(agreement_id__isnull=True) & (Q(completed_on__lte=day) | Q(cancelled_on__lte=day)))
    return rows


def states(model, known_at: dt.datetime, *, order_by=(), **lookups) -> list:
    """Instances of ``model`` as they stood at ``known_at`` (published or not), narrowed by ``lookups``."""
    rows = latest_rows(model, known_at).filter(**lookups)
    if order_by:
        rows = rows.order_by(*order_by)
    return [row.instance for row in rows]


# --------------------------------------------------------------------------
# Their related records at the same moment: one generic helper
# --------------------------------------------------------------------------

# Many-to-many links kept without history: unknown at a past moment. They are attached empty,
# and the representation must say they are unknown (StatusEntrySerializer gives evidence: null).
WITHOUT_HISTORY = {(ProvisionStatusChange, "evidence_events"), (ProvisionStatusChange, "evidence_handovers")}


def _cached(model, rows: list) -> QuerySet:
    """A queryset that answers ``rows`` without a query (how prefetched relations are held)."""
    qs = model.objects.none()
    qs._result_cache = list(rows)
    qs._prefetch_done = True
    return qs


def _hold(instance, name: str, model, rows: list) -> None:
    instance._prefetched_objects_cache = {**getattr(instance, "_prefetched_objects_cache", {}), name: _cached(model, rows)}


def _ordering(model, *, without: str = "") -> list[str]:
    """``model``'s default ordering (less the foreign key to the parent), then its id."""
    return [name for name in model._meta.ordering if name.lstrip("-") != without] + ["id"]


def _attach(instances: list, name: str, known_at: dt.datetime) -> list:
    """Attach relation ``name`` of ``instances`` (all of one model) as it stood at ``known_at``;
    returns the related instances, for the next step of a lookup."""
    model = type(instances[0])
    field = model._meta.get_field(name)
    if field.many_to_many:
        return _attach_many_to_many(instances, field, known_at)
    if field.concrete:  # a foreign key or one-to-one of the instance: the record it names, as it was then
        ids = {getattr(i, field.attname) for i in instances} - {None}
        found = {obj.pk: obj for obj in states(field.related_model, known_at, id__in=ids)} if ids else {}
        for instance in instances:
            target = found.get(getattr(instance, field.attname))
            if target is None and field.null:
                setattr(instance, field.attname, None)  # it no longer existed then
            field.set_cached_value(instance, target)
        return list(found.values())
    # The rows that pointed at the instances then (reverse foreign key or one-to-one).
    key = field.field
    children = states(field.related_model, known_at, order_by=_ordering(field.related_model, without=key.name),
                      **{f"{key.attname}__in": [i.pk for i in instances]})
    by_parent = defaultdict(list)
    for child in children:
        by_parent[getattr(child, key.attname)].append(child)
    for instance in instances:
        mine = by_parent.get(instance.pk, [])
        for child in mine:
            key.set_cached_value(child, instance)
        if field.one_to_one:
            field.set_cached_value(instance, mine[0] if mine else None)
        else:
            _hold(instance, field.get_accessor_name(), field.related_model, mine)
    return children


def _links_model(model, field):
    """The history model of ``field``'s links (``HistoricalRecords(m2m_fields=...)``), or None when none is kept."""
    through = field.remote_field.through
    return next((rel.related_model for rel in model.history.model._meta.related_objects
                 if getattr(rel.related_model, "instance_type", None) is through), None)


def _attach_many_to_many(instances: list, field, known_at: dt.datetime) -> list:
    """Links from the many-to-many history kept with each historical row (``m2m_fields``)."""
    model, target = type(instances[0]), field.related_model
    links = _links_model(model, field)
    if links is None:
        if (model, field.name) not in WITHOUT_HISTORY:
            raise LookupError(f"{model.__name__}.{field.name} keeps no history; list it in WITHOUT_HISTORY.")
        for instance in instances:
            _hold(instance, field.name, target, [])
        return []
    by_row = {instance._history.history_id: instance for instance in instances}
    target_key = f"{field.m2m_reverse_field_name()}_id"
    linked = defaultdict(set)
    for history_id, target_id in links.objects.filter(history_id__in=by_row).values_list("history_id", target_key):
        linked[history_id].add(target_id)
    wanted = set().union(*linked.values())
    found = states(target, known_at, order_by=_ordering(target), id__in=wanted) if wanted else []
    for history_id, instance in by_row.items():
        _hold(instance, field.name, target, [obj for obj in found if obj.pk in linked[history_id]])
    return found


def prefetch(instances: list, known_at: dt.datetime, *lookups: str) -> None:
    """Like ``prefetch_related``, with every related row as it stood at ``known_at``.

    ``lookups`` are paths such as ``"postponements__agreed_by"``; a shared
    prefix is loaded once. The instances must come from historical rows
    (``row.instance``), which carry the many-to-many history.
    """
    loaded: dict[str, list] = {}
    for lookup in lookups:
        level, path = instances, ""
        for part in lookup.split("__"):
            path = f"{path}__{part}" if path else part
            if path not in loaded:
                loaded[path] = _attach(level, part, known_at) if level else []
            level = loaded[path]


# --------------------------------------------------------------------------
# What each resource of the API shows
# --------------------------------------------------------------------------

CITED = ("citations__source",)
POSTPONEMENTS = ("postponements__requested_by", "postponements__agreed_by", "postponements__citations__source")
PROVISION_STATE = (  # what implementation.provision_state reads
    "deadlines__district", "deadlines__obligated_party", *(f"deadlines__{p}" for p in POSTPONEMENTS),
    "deadlines__handover__district", "deadlines__handover__citations__source",
    "status_changes__claimed_by", "status_changes__citations__source",
    "status_changes__evidence_events", "status_changes__evidence_handovers",
)
RELATED = {
    Event: ("claimed_by", "districts", "parties", "agreement", "handover__district", *CITED),
    District: ("conflict", "parent", "aliases"),
    Party: (),
    Source: (),
    Agreement: (
        "conflict", "signatories__party", "provisions", "deadlines__district", "deadlines__handover",
        "deadlines__postponements", *CITED, "discrepancies__sources",
    ),
    Deadline: ("agreement", "district", "provision", "obligated_party", "handover", *POSTPONEMENTS, *CITED),
    Handover: ("district", "from_party", "to_party", "agreement", *(f"deadline__{p}" for p in POSTPONEMENTS), *CITED),
    Provision: ("agreement", *PROVISION_STATE),
}
# The detail of an agreement adds each provision's implementation status.
DETAIL = {Agreement: tuple(f"provisions__{p}" for p in PROVISION_STATE)}


def records(model, rows, known_at: dt.datetime, *, detail: bool = False) -> list:
    """Instances of ``model`` from historical ``rows``, with everything their representation shows, as of ``known_at``."""
    instances = [row.instance for row in rows]
    prefetch(instances, known_at, *RELATED[model], *(DETAIL.get(model, ()) if detail else ()))
    return instances


def provisions(known_at: dt.datetime, day: dt.date | None = None) -> list[Provision]:
    """The provisions a reader could see at ``known_at``, by agreement (signing date, id) and number."""
    rows = as_of_rows(Provision, visible_rows(Provision, known_at), day, known_at)
    found = records(Provision, rows, known_at)
    return sorted(found, key=lambda p: (p.agreement.signed_on, p.agreement_id, p.number) if p.agreement else
                  (dt.date.max, p.agreement_id, p.number))


def control_histories(
    district_ids, known_at: dt.datetime, *, as_of: dt.date | None = None
) -> dict[int, list[selectors.ControlPeriod]]:
    """``selectors.control_histories`` as published at ``known_at``: the handovers completed and
    the control changes of events published then, as they were recorded then."""
    district_ids = list(district_ids)
    handovers = visible_rows(Handover, known_at).filter(district_id__in=district_ids, completed_on__isnull=False)
    events = visible_rows(Event, known_at)
    if as_of is not None:
        handovers = handovers.filter(completed_on__lte=as_of)
        events = events.filter(date__lte=as_of)
    changes = latest_rows(ControlChange, known_at).filter(district_id__in=district_ids, event_id__in=events.values("id"))
    handovers = [row.instance for row in handovers]
    changes = [row.instance for row in changes]
    prefetch(handovers, known_at, "to_party", "district")
    prefetch(changes, known_at, "controlled_by", "event")
    steps: dict[int, list[tuple]] = defaultdict(list)
    for h in handovers:
        if h.to_party is not None:
            steps[h.district_id].append((h.completed_on, dates.DAY, h.to_party, "handover", h.district.slug))
    for c in changes:
        if c.controlled_by is not None and c.event is not None:
            steps[c.district_id].append((c.event.date, c.event.date_precision, c.controlled_by, "event", c.event.slug))
    return selectors.control_periods(district_ids, steps)
