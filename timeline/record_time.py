"""The record as it was published at a moment (record time, ``?known_at=``).

Built on the django-simple-history tables, not on a second copy: for each
record, the latest historical row with ``history_date <= known_at`` is its
state at that moment; it belongs to the answer when that state was published.
So an event corrected since shows its old text, one published later is
absent, and one withdrawn since is present.

Covered: events (list and detail), with their districts and parties from the
many-to-many history and their citations from the citation history. The
records they link to (claimed by, agreement, handover, the sources cited) are
shown with their current names. Other resources answer ``known_at`` with 400
until their history is joined the same way (see docs/api.md).

Every query here is a fixed number per page: one for the historical rows,
one per relation.
"""

import datetime as dt

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from timeline.models import Agreement, Citation, District, Event, Handover, Party, PublicationStatus, Source

PARAMETER = "known_at"
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
    if moment > (now or timezone.now()):
        raise KnownAtError(f"{value[:40]!r} is in the future; the record is only known up to now.")
    return moment


def header_value(known_at: dt.datetime | None) -> str:
    """``X-Record-Time``: the moment an answer reflects, in UTC to the microsecond."""
    moment = (known_at or timezone.now()).astimezone(dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def latest_rows(model, known_at: dt.datetime) -> QuerySet:
    """Historical rows of ``model``: each record's latest state at ``known_at`` (deleted ones left out)."""
    history = model.history.model
    latest = (
        history.objects.filter(id=OuterRef("id"), history_date__lte=known_at)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )
    return history.objects.filter(history_date__lte=known_at, history_id=Subquery(latest)).exclude(history_type="-")


def published_events(known_at: dt.datetime) -> QuerySet:
    """Historical event rows that were the published state of their event at ``known_at``, in timeline order."""
    return (
        latest_rows(Event, known_at)
        .filter(publication_status=PublicationStatus.PUBLISHED)
        .order_by("date", "id")
    )


def _cached(model, rows: list) -> QuerySet:
    """A queryset that answers ``rows`` without a query (how prefetched relations are held)."""
    qs = model.objects.none()
    qs._result_cache = list(rows)
    qs._prefetch_done = True
    return qs


def events_from_rows(rows, known_at: dt.datetime) -> list[Event]:
    """Event instances as they stood at ``known_at``, with districts, parties and citations of that moment."""
    rows = list(rows)
    if not rows:
        return []
    history = Event.history.model
    by_history = {row.history_id: row for row in rows}
    districts_through = history._meta.get_field("historicalevent_districts").related_model
    parties_through = history._meta.get_field("historicalevent_parties").related_model
    districts: dict[int, list] = {h: [] for h in by_history}
    parties: dict[int, list] = {h: [] for h in by_history}
    for link in districts_through.objects.filter(history_id__in=by_history).select_related("district"):
        districts[link.history_id].append(link.district)
    for link in parties_through.objects.filter(history_id__in=by_history).select_related("party"):
        parties[link.history_id].append(link.party)
    event_ids = [row.id for row in rows]
    citations: dict[int, list] = {event_id: [] for event_id in event_ids}
    cited = list(latest_rows(Citation, known_at).filter(event_id__in=event_ids).order_by("order", "id"))
    sources = Source.objects.in_bulk({c.source_id for c in cited})
    for row in cited:
        citation = row.instance
        citation.source = sources.get(row.source_id)
        if citation.source is not None:
            citations[row.event_id].append(citation)
    parties_by_id = Party.objects.in_bulk({row.claimed_by_id for row in rows if row.claimed_by_id})
    agreements = Agreement.objects.in_bulk({row.agreement_id for row in rows if row.agreement_id})
    handovers = Handover.objects.select_related("district").in_bulk(
        {row.handover_id for row in rows if row.handover_id}
    )
    events = []
    for row in rows:
        event = row.instance
        event.claimed_by = parties_by_id.get(row.claimed_by_id)
        event.agreement = agreements.get(row.agreement_id)
        event.handover = handovers.get(row.handover_id)
        event._prefetched_objects_cache = {
            "districts": _cached(District, sorted(districts[row.history_id], key=lambda d: d.name)),
            "parties": _cached(Party, sorted(parties[row.history_id], key=lambda p: p.name)),
            "citations": _cached(Citation, citations[row.id]),
        }
        events.append(event)
    return events
