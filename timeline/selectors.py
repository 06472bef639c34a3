"""Read queries shared by the pages, the feeds and the API.

Pages and the API call the same functions, so they cannot disagree about
what is published, what matches a filter, or who controlled a district.
Every list function returns a queryset with its related rows joined or
prefetched: the number of SQL queries does not grow with the rows.
"""

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, connections, router
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.db.models.lookups import In

from timeline import dates
from timeline.models import (
    Agreement,
    Citation,
    ControlChange,
    Deadline,
    District,
    DistrictAlias,
    Event,
    Handover,
    Party,
    Postponement,
    Provision,
    PublicationStatus,
    Signatory,
    Source,
    party_public_name,
)
from timeline.text import fold

PUBLISHED = PublicationStatus.PUBLISHED

# --------------------------------------------------------------------------
# Districts and names
# --------------------------------------------------------------------------


def district_ids_matching(q: str) -> QuerySet:
    """Ids of districts whose name or any alias contains ``q``, ignoring case and diacritics.

    A UNION of the two lookups rather than ``name LIKE .. OR id IN (aliases)``:
    PostgreSQL estimates each half from its own statistics (a handful of rows),
    where the OR made it guess half the districts and plan a search of events
    about them as a scan of every event-district link. Use it in ``__in``.
    """
    key = fold(q)
    if not key:
        return District.objects.none().values("pk")
    by_name = District.objects.filter(search_key__contains=key).order_by().values("pk")
    by_alias = DistrictAlias.objects.filter(search_key__contains=key).order_by().values("district_id")
    return by_name.union(by_alias)


def district_list(*, q: str = "", include_unpublished: bool = False) -> QuerySet:
    qs = District.objects.all() if include_unpublished else District.objects.published()
    if q:
        qs = qs.filter(pk__in=district_ids_matching(q))
    return qs.select_related("parent", "conflict").prefetch_related(
        Prefetch("aliases", queryset=DistrictAlias.objects.order_by("language", "name"))
    )


@dataclass(frozen=True)
class ControlPeriod:
    """Who held a territory from one date until the next change (``until`` None: still)."""

    party: Party
    since: dt.date
    since_precision: str
    until: dt.date | None
    until_precision: str | None
    via: str  # "handover" or "event"
    via_slug: str

    @property
    def since_display(self) -> str:
        return dates.format_date(self.since, self.since_precision)

    @property
    def until_display(self) -> str:
        return dates.format_date(self.until, self.until_precision) if self.until else ""


def control_histories(
    district_ids: Iterable[int], *, as_of: dt.date | None = None, include_unpublished: bool = False
) -> dict[int, list[ControlPeriod]]:
    """Control history of each district, derived from completed handovers and
    control changes of dated events, in two queries whatever the number of districts.

    With ``as_of``, only what had happened by the end of that day counts.
    """
    district_ids = list(district_ids)
    handovers = Handover.objects.filter(district_id__in=district_ids, completed_on__isnull=False)
    changes = ControlChange.objects.filter(district_id__in=district_ids)
    if not include_unpublished:
        handovers = handovers.filter(publication_status=PUBLISHED)
        changes = changes.filter(event__publication_status=PUBLISHED)
    if as_of is not None:
        handovers = handovers.filter(completed_on__lte=as_of)
        changes = changes.filter(event__date__lte=as_of)
    steps: dict[int, list[tuple]] = defaultdict(list)
    for h in handovers.select_related("to_party", "district"):
        steps[h.district_id].append((h.completed_on, dates.DAY, h.to_party, "handover", h.district.slug))
    for c in changes.select_related("controlled_by", "event"):
        steps[c.district_id].append(
            (c.event.date, c.event.date_precision, c.controlled_by, "event", c.event.slug)
        )
    return control_periods(district_ids, steps)


def control_periods(district_ids: Iterable[int], steps: dict[int, list[tuple]]) -> dict[int, list[ControlPeriod]]:
    """Each district's periods of control from its steps ``(date, precision, party, via, slug)``, in any order.

    A step by the party already in control changes nothing; on the same day an
    event's step comes before a handover's. Shared by today's record
    (``control_histories``) and the record as published at a moment
    (``record_time.control_histories``).
    """
    result: dict[int, list[ControlPeriod]] = {}
    for district_id in district_ids:
        ordered = sorted(steps.get(district_id, []), key=lambda s: (s[0], s[3] == "handover"))
        merged: list[tuple] = []
        for step in ordered:
            if merged and merged[-1][2].pk == step[2].pk:
                continue  # the same party again: no change of control
            merged.append(step)
        periods = []
        for n, (since, precision, party, via, slug) in enumerate(merged):
            nxt = merged[n + 1] if n + 1 < len(merged) else None
            periods.append(
                ControlPeriod(
                    party=party,
                    since=since,
                    since_precision=precision,
                    until=nxt[0] if nxt else None,
                    until_precision=nxt[1] if nxt else None,
                    via=via,
                    via_slug=slug,
                )
            )
        result[district_id] = periods
    return result


def district_control_history(
    district: District, *, as_of: dt.date | None = None, include_unpublished: bool = False
) -> list[ControlPeriod]:
    return control_histories([district.pk], as_of=as_of, include_unpublished=include_unpublished)[district.pk]


def controller_on(history: list[ControlPeriod], day: dt.date | None = None) -> Party | None:
    """Who held the territory at the end of ``day`` (default: now), from its history."""
    holder = None
    for period in history:
        if day is None or period.since <= day:
            holder = period.party
    return holder


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


def citations_prefetch(lookup: str = "citations") -> Prefetch:
    return Prefetch(lookup, queryset=Citation.objects.select_related("source").order_by("order", "id"))


def party_list(*, include_unpublished: bool = False) -> QuerySet:
    return Party.objects.all() if include_unpublished else Party.objects.published()


def source_list(*, include_unpublished: bool = False) -> QuerySet:
    return Source.objects.all() if include_unpublished else Source.objects.published()


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def _listed_districts() -> QuerySet:
    """The districts an entry names on a public page: the published ones, as the API lists them."""
    return District.objects.published().only("id", "name", "slug").order_by("name")


def _listed_parties() -> QuerySet:
    """The parties an entry names on a public page: the published ones, as the API lists them."""
    return Party.objects.published().only("id", "name", "slug", "short_name").order_by("name")


def event_list(*, include_unpublished: bool = False) -> QuerySet:
    """Events in timeline order with everything a list shows, in a fixed number of queries.

    Their districts and parties are the published ones whatever ``include_unpublished``
    says about the events: a draft district's name never reaches a public page (the API
    re-prefetches its own, with their status).
    """
    qs = Event.objects.all() if include_unpublished else Event.objects.published()
    return (
        qs.select_related("claimed_by", "agreement", "handover", "conflict")
        .prefetch_related(
            Prefetch("districts", queryset=_listed_districts()),
            Prefetch("parties", queryset=_listed_parties()),
            citations_prefetch(),
        )
        .order_by("date", "id")
    )


def event_entries(*, include_unpublished: bool = False) -> QuerySet:
    """The events a list page shows, in timeline order, with nothing joined or prefetched:
    filter it (``event_filter``), page it, then ``timeline_entries`` gives what each entry shows."""
    qs = Event.objects.all() if include_unpublished else Event.objects.published()
    return qs.order_by("date", "id")


# What an entry of a list page shows (templatetags.timeline_tags.timeline_entry), and its grouping by month.
ENTRY_ROW_COLUMNS = (
    "pk", "slug", "title", "kind", "date", "date_precision", "end_date", "end_date_precision", "claimed_by_id",
)

_KIND_LABELS = dict(Event.Kind.choices)


@dataclass(frozen=True, slots=True)
class TimelineEntry(dates.DatedEntry):
    """One entry of a list page as ``timeline_tags.timeline_entry`` writes it.

    ``claimant_name`` is what the page calls the claiming party (empty when
    the entry is not a claim): ``models.party_public_name``, which does not name a
    party that is not published yet (the API gives ``claimed_by: null`` with
    ``is_claim: true``). ``districts`` and
    ``parties`` are ``(slug, name)``, ``citations`` ``(source slug, title,
    publisher, url, passage, locator)``, all published and in list order.
    """

    pk: int
    slug: str
    title: str
    summary: str
    kind: str
    date: dt.date
    date_precision: str
    end_date: dt.date | None
    end_date_precision: str
    is_claim: bool
    claimant_name: str
    districts: list
    parties: list
    citations: list

    @property
    def kind_display(self) -> str:
        return _KIND_LABELS.get(self.kind, self.kind)


def entry_rows(qs: QuerySet, *extra: str) -> QuerySet:
    """``qs`` (events) as the light rows ``timeline_entries`` takes: named tuples of ``ENTRY_ROW_COLUMNS``
    and the ``extra`` columns (the timeline page's visual timeline reads the same rows).

    A list page pages these rather than model instances: no ``body`` nor
    ``summary``, no join, so the rows PostgreSQL sorts to find a page are
    narrow (the summaries of a page come with ``timeline_entries``).
    """
    return qs.prefetch_related(None).select_related(None).values_list(*ENTRY_ROW_COLUMNS, *extra, named=True)


def timeline_entries(rows: Iterable) -> list[TimelineEntry]:
    """The entries of ``rows`` (``entry_rows``, a page of them) with their summaries and published districts,
    parties, citations and claiming party: one query more, whatever the number of rows (``event_related_rows``).

    Built from rows rather than model instances with three prefetches: at a
    million events that was 14 of the 36 ms a timeline page took.
    """
    rows = list(rows)
    related = event_related_rows(rows, summaries=True)
    districts, parties, citations, summaries = related.districts, related.parties, related.citations, related.summaries
    claimants = {pk: party_public_name(name, status) for pk, (_, name, status) in related.claimants.items()}
    return [
        TimelineEntry(
            row.pk, row.slug, row.title, summaries.get(row.pk, ""), row.kind, row.date, row.date_precision, row.end_date,
            row.end_date_precision, row.claimed_by_id is not None, claimants.get(row.claimed_by_id, ""),
            districts.get(row.pk, []), parties.get(row.pk, []), citations.get(row.pk, []),
        )
        for row in rows
    ]


# The columns of an event in the API's list. Its to-one records (claiming party, agreement,
# handover) are named by id only and come with the to-many ones from ``event_related_rows``:
# four LEFT JOINs made PostgreSQL spend 1.3 ms planning the page's query instead of 0.25 ms.
EVENT_ROW_COLUMNS = (
    "pk", "slug", "title", "summary", "body", "kind", "origin", "date", "date_precision", "end_date",
    "end_date_precision", "publication_status", "updated_at", "version", "claimed_by_id", "agreement_id",
    "handover_id",
)


def event_rows(qs: QuerySet) -> QuerySet:
    """The events of ``qs`` as light rows: named tuples of ``EVENT_ROW_COLUMNS`` (``row.pk``,
    ``row.date``, ``row.claimed_by_id`` ...) from one query on the events table alone.

    A list of a hundred events costs a fraction of what model instances with
    ``select_related`` cost; the related records come from ``event_related_rows``.
    """
    return qs.prefetch_related(None).select_related(None).values_list(*EVENT_ROW_COLUMNS, named=True)


@dataclass(frozen=True)
class EventRelatedRows:
    """The related records of a page of events.

    To-many, each ``{event id: [rows in list order]}``: ``districts`` and
    ``parties`` ``(slug, name)``, ``citations`` ``(source slug, title,
    publisher, url, passage, locator)``. To-one, each ``{record id: row}``,
    with the record's publication status for the caller to check:
    ``claimants`` ``(slug, name, status)``, ``agreements`` ``(slug, title,
    status)``, ``handovers`` ``(status, publication status, district slug,
    district name, district status)`` (the district's three are None when the
    handover names none). ``summaries`` ``{event id: summary}`` when asked for.
    """

    districts: dict
    parties: dict
    citations: dict
    claimants: dict
    agreements: dict
    handovers: dict
    summaries: dict


def event_related_rows(rows: Iterable, *, include_unpublished: bool = False, summaries: bool = False) -> EventRelatedRows:
    """The related records of ``rows`` (``event_rows``): districts and parties (by name),
    citations (in their order), and the claiming parties, agreements and handovers, in one query;
    with ``summaries``, the events' summaries too (``timeline_entries``: rows without them are
    narrower to fetch, and a page needs only fifty).

    Without ``include_unpublished`` a district, party or cited source that is
    not published is left out of the to-many lists, as the list shows them to
    anonymous readers; the to-one rows carry their status instead.

    One ``UNION ALL`` statement written here rather than six ORM querysets:
    on a page of a hundred events the ORM's building of the queries cost
    more than the database's answering them (plain SQL, any backend).
    """
    rows = list(rows)
    related = EventRelatedRows(defaultdict(list), defaultdict(list), defaultdict(list), {}, {}, {}, {})
    event_ids = [int(row.pk) for row in rows]
    if not event_ids:
        return related
    q = connection.ops.quote_name
    district, party, source, citation = District._meta, Party._meta, Source._meta, Citation._meta
    through_d, through_p = Event.districts.through._meta, Event.parties.through._meta
    ids = ", ".join(["%s"] * len(event_ids))
    visible = "" if include_unpublished else " AND r.publication_status = %s"
    visible_params = [] if include_unpublished else [PUBLISHED]
    parts, params = [], []
    for kind, through, model, column in ((0, through_d, district, "district_id"), (1, through_p, party, "party_id")):
        parts.append(
            # Only table and column names from the models go into the text; values are parameters.
            f"SELECT {kind} AS part, t.event_id, r.name AS sort_text, 0 AS sort_number, r.id AS sort_id, "  # noqa: S608
            f"r.slug, r.name, '' AS publisher, '' AS url, '' AS passage, '' AS locator "
            f"FROM {q(through.db_table)} t JOIN {q(model.db_table)} r ON r.id = t.{q(column)} "
            f"WHERE t.event_id IN ({ids}){visible}"
        )
        params += [*event_ids, *visible_params]
    parts.append(
        f"SELECT 2, c.event_id, '', c.{q('order')}, c.id, r.slug, r.title, r.publisher, r.url, c.passage, c.locator "  # noqa: S608
        f"FROM {q(citation.db_table)} c JOIN {q(source.db_table)} r ON r.id = c.source_id "
        f"WHERE c.event_id IN ({ids}){visible}"
    )
    params += [*event_ids, *visible_params]
    # The to-one records, by their own id (in the event_id column), each once.
    # Rows without a column (``entry_rows`` has no agreement or handover) want none of those records.
    wanted = [sorted({getattr(row, column, None) for row in rows} - {None})
              for column in ("claimed_by_id", "agreement_id", "handover_id")]
    # Table names from the models; ids are parameters.
    one = (
        (3, "SELECT 3, r.id, '', 0, r.id, r.slug, r.name, r.publication_status, '', '', '' "  # noqa: S608
            f"FROM {q(party.db_table)} r"),
        (4, "SELECT 4, r.id, '', 0, r.id, r.slug, r.title, r.publication_status, '', '', '' "  # noqa: S608
            f"FROM {q(Agreement._meta.db_table)} r"),
        (5, "SELECT 5, h.id, '', 0, h.id, d.slug, d.name, h.publication_status, h.status, d.publication_status, '' "  # noqa: S608
            f"FROM {q(Handover._meta.db_table)} h LEFT JOIN {q(district.db_table)} d ON d.id = h.district_id"),
    )
    for (kind, select), pks in zip(one, wanted, strict=True):
        if pks:
            alias = "h" if kind == 5 else "r"
            parts.append(f"{select} WHERE {alias}.id IN ({', '.join(['%s'] * len(pks))})")
            params += pks
    if summaries:
        parts.append(f"SELECT 6, e.id, '', 0, e.id, '', e.summary, '', '', '', '' FROM {q(Event._meta.db_table)} e "  # noqa: S608
                     f"WHERE e.id IN ({ids})")
        params += event_ids
    sql = " UNION ALL ".join(parts) + " ORDER BY part, sort_text, sort_number, sort_id"
    lists = (related.districts, related.parties)
    # Raw SQL bypasses the database router: ask it, so an anonymous request reads its replica.
    with connections[router.db_for_read(Event)].cursor() as cursor:
        cursor.execute(sql, params)
        for part, key, _, _, _, slug, name, publisher, url, passage, locator in cursor.fetchall():
            if part < 2:
                lists[part][key].append((slug, name))
            elif part == 2:
                related.citations[key].append((slug, name, publisher, url, passage, locator))
            elif part == 3:
                related.claimants[key] = (slug, name, publisher)
            elif part == 4:
                related.agreements[key] = (slug, name, publisher)
            elif part == 5:  # handover: its status in url, its district's status in passage
                related.handovers[key] = (url, publisher, slug, name, passage)
            else:
                related.summaries[key] = name
    return related


def event_filter(
    qs: QuerySet,
    *,
    districts: Iterable[str] = (),
    parties: Iterable[str] = (),
    kinds: Iterable[str] = (),
    agreement: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    q: str = "",
    updated_since: dt.datetime | None = None,
) -> QuerySet:
    """Narrow an event queryset the same way for pages and API.

    An event matches a date range when its span, at its precision, overlaps
    it: 'February 1988' matches ``date_from=1988-02-15``. Several districts
    (or parties) match events about any of them.
    """
    districts, parties, kinds = list(districts), list(parties), list(kinds)
    through_d = Event.districts.through
    through_p = Event.parties.through
    if districts:
        qs = qs.filter(
            Exists(through_d.objects.filter(event_id=OuterRef("pk"), district__slug__in=districts))
        )
    if parties:
        qs = qs.filter(
            Exists(through_p.objects.filter(event_id=OuterRef("pk"), party__slug__in=parties))
            | Q(claimed_by__slug__in=parties)
        )
    if kinds:
        qs = qs.filter(kind__in=kinds)
    if agreement:
        qs = qs.filter(agreement__slug=agreement)
    if date_from is not None:
        qs = qs.filter(span_end__gte=date_from)
    if date_to is not None:
        qs = qs.filter(date__lte=date_to)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if q:
        qs = qs.filter(event_text_matches(q))
    return qs


class InArray(In):
    """``lhs IN (subquery)``, written ``lhs = ANY(ARRAY(subquery))`` on PostgreSQL.

    ``IN (subquery)`` inside an OR is a filter PostgreSQL checks row by row
    (no index can serve it); ``= ANY(<array computed once>)`` is an index
    condition, so ``a LIKE .. OR id = ANY(..)`` can be a BitmapOr of two index
    scans. Other databases get the plain ``IN``. Use as
    ``Q(InArray(F("pk"), queryset.values("some_id")))``.
    """

    def get_rhs_op(self, connection, rhs):
        if connection.vendor == "postgresql" and not self.rhs_is_direct_value():
            return f"= ANY(ARRAY{rhs})"
        return super().get_rhs_op(connection, rhs)


def event_text_matches(q: str) -> Q:
    """Title or summary contains ``q``, or the event is about a district known by that name;
    ignoring case and diacritics (both sides go through ``text.fold``).

    Written for the indexes; on PostgreSQL the condition is ``search_text LIKE
    '%key%' OR id = ANY(ARRAY(SELECT event_id FROM event_districts WHERE
    district_id IN (<districts named key>)))``: the trigram index
    ``event_search_text_trgm`` serves the first half, the through table's
    district index the second. Both halves being indexable, the planner chooses
    by the number of matches: a few thousand are fetched by a BitmapOr and
    sorted; a common word instead walks the timeline index in date order and
    stops at the page's last row (see docs/benchmarks.md, "Search at 1M events
    (plans)"). A key without ``MIN_SEARCH_RUN`` letters or digits in a row has
    no trigram to look up: ``validate_event_search`` refuses it first.
    """
    key = fold(q)
    if not key:
        return Q(pk__in=[])
    about_named_district = Event.districts.through.objects.filter(
        district_id__in=district_ids_matching(q)
    ).values("event_id")
    return Q(search_text__contains=key) | Q(InArray(F("pk"), about_named_district))


MIN_SEARCH_RUN = 3
_SEARCH_RUN = re.compile(rf"[^\W_]{{{MIN_SEARCH_RUN}}}")


def validate_event_search(q: str) -> None:
    """Refuse an event search that no index can serve.

    A trigram index finds ``LIKE '%key%'`` through the three-character pieces
    of ``key``; with fewer than ``MIN_SEARCH_RUN`` letters or digits in a row
    there is none, and the database would read every event (seconds at a
    million rows, and the match would be most of them anyway). Districts are
    few, so their ``?q=`` takes any length.
    """
    if not _SEARCH_RUN.search(fold(q)):
        raise ValidationError(
            "Give at least %(n)d letters or digits in a row to search events (got %(q)r).",
            code="too_short",
            params={"n": MIN_SEARCH_RUN, "q": q[:40]},
        )


# --------------------------------------------------------------------------
# Agreements, deadlines, handovers
# --------------------------------------------------------------------------


def postponements_prefetch(lookup: str = "postponements") -> Prefetch:
    return Prefetch(
        lookup,
        queryset=Postponement.objects.select_related("requested_by")
        .prefetch_related("agreed_by", citations_prefetch())
        .order_by("sequence"),
    )


def deadline_list(*, include_unpublished: bool = False) -> QuerySet:
    qs = Deadline.objects.all()
    if not include_unpublished:
        qs = qs.filter(agreement__publication_status=PUBLISHED)
    return (
        qs.select_related("agreement", "district", "provision", "obligated_party", "handover")
        .prefetch_related(postponements_prefetch(), citations_prefetch())
        .order_by("due_on", "id")
    )


def deadlines_overdue_q(today: dt.date) -> Q:
    """Deadlines whose current date has passed with no completed handover."""
    completed = Handover.objects.filter(deadline_id=OuterRef("pk"), completed_on__isnull=False)
    return Q(due_on__lt=today) & ~Exists(completed)


def provisions_queryset(*, include_unpublished: bool = False) -> QuerySet:
    """Provisions with everything ``implementation.provision_state`` reads, in a fixed number of queries.

    Evidence and handovers the reader may not see are left out of the prefetch,
    so a draft handover's completion never moves a public status.
    """
    from timeline.models import ProvisionStatusChange

    handovers = Handover.objects.all() if include_unpublished else Handover.objects.published()
    events = Event.objects.all() if include_unpublished else Event.objects.published()
    return Provision.objects.select_related("agreement").prefetch_related(
        Prefetch(
            "deadlines",
            queryset=Deadline.objects.select_related("district", "obligated_party", "handover__district")
            .prefetch_related(postponements_prefetch(), citations_prefetch("handover__citations"))
            .order_by("due_on", "id"),
        ),
        Prefetch(
            "status_changes",
            queryset=ProvisionStatusChange.objects.select_related("claimed_by")
            .prefetch_related(
                citations_prefetch(),
                Prefetch("evidence_events", queryset=events.only("id", "slug", "title", "date", "date_precision",
                                                                  "publication_status").order_by("date", "id")),
                Prefetch("evidence_handovers", queryset=handovers.select_related("district").order_by("id")),
            )
            .order_by("from_date", "id"),
        ),
    ).order_by("number")


def provision_list(*, include_unpublished: bool = False) -> QuerySet:
    """Numbered provisions of (published) agreements across the record, by agreement and number."""
    qs = provisions_queryset(include_unpublished=include_unpublished)
    if not include_unpublished:
        qs = qs.filter(agreement__publication_status=PUBLISHED)
    return qs.order_by("agreement__signed_on", "agreement_id", "number")


def agreement_list(*, include_unpublished: bool = False, with_provision_states: bool = False) -> QuerySet:
    """Agreements with what their pages show; ``with_provision_states`` also prefetches
    everything ``implementation.provision_state`` reads (for one agreement's page)."""
    qs = Agreement.objects.all() if include_unpublished else Agreement.objects.published()
    provisions = (
        provisions_queryset(include_unpublished=include_unpublished)
        if with_provision_states
        else Provision.objects.order_by("number")
    )
    return qs.select_related("conflict").prefetch_related(
        Prefetch("signatories", queryset=Signatory.objects.select_related("party").order_by("order", "id")),
        Prefetch("provisions", queryset=provisions),
        Prefetch(
            "deadlines",
            queryset=Deadline.objects.select_related("district", "provision", "obligated_party", "handover")
            .prefetch_related(postponements_prefetch())
            .order_by("due_on", "id"),
        ),
        citations_prefetch(),
        "discrepancies__sources",
    ).order_by("signed_on", "id")


def handover_list(*, include_unpublished: bool = False) -> QuerySet:
    """The handover tracker: one row per handover, with its deadline's history."""
    qs = Handover.objects.all() if include_unpublished else Handover.objects.published()
    return (
        qs.select_related("district", "from_party", "to_party", "agreement", "deadline")
        .defer("district__boundary")  # a polygon a row: read and decoded for nothing (the map reads its own)
        .prefetch_related(postponements_prefetch("deadline__postponements"), citations_prefetch())
        .order_by("deadline__original_due_on", "district__name", "id")
    )


def handover_status_counts(qs: QuerySet, day: dt.date) -> dict[str, int]:
    """How many of the handovers of ``qs`` were in each status at the end of ``day``, in one query.

    The rule of ``asof.handover_state``, in SQL: completed once completed by
    then, else cancelled once cancelled by then, else postponed once a
    postponement of its deadline was decided by then, else scheduled. For a
    summary over every page of the tracker without loading every handover.
    """
    postponed = Exists(Postponement.objects.filter(deadline_id=OuterRef("deadline_id"), decided_on__lte=day))
    status = Case(
        When(completed_on__lte=day, then=Value(Handover.Status.COMPLETED)),
        When(cancelled_on__lte=day, then=Value(Handover.Status.CANCELLED)),
        When(postponed, then=Value(Handover.Status.POSTPONED)),
        default=Value(Handover.Status.SCHEDULED),
        output_field=CharField(),
    )
    rows = qs.order_by().prefetch_related(None).annotate(status_then=status).values("status_then").annotate(n=Count("pk"))
    counts = dict.fromkeys(Handover.Status.values, 0)
    counts.update({row["status_then"]: row["n"] for row in rows})
    return counts


# --------------------------------------------------------------------------
# Public pages: one record with everything its page shows
# --------------------------------------------------------------------------


def event_public_get(*, slug: str) -> Event:
    """The event a reader may open: published, or withdrawn (its page says so).

    Drafts and entries in review raise ``Event.DoesNotExist`` like unknown slugs.
    """
    from timeline.models import Discrepancy

    return (
        event_list(include_unpublished=True)
        .filter(slug=slug, publication_status__in=[PUBLISHED, PublicationStatus.WITHDRAWN])
        .select_related("handover__district", "handover__from_party", "handover__to_party", "deadline", "postponement")
        .prefetch_related(
            Prefetch("discrepancies", queryset=Discrepancy.objects.prefetch_related("sources").order_by("id")),
            Prefetch(
                "control_changes",
                queryset=ControlChange.objects.select_related("district", "controlled_by").order_by("district__name"),
            ),
        )
        .get()
    )


def district_events(district: District) -> QuerySet:
    """Published events about one district, in timeline order (``event_entries``)."""
    return event_entries().filter(districts=district)


# --------------------------------------------------------------------------
# The feed of public changes
# --------------------------------------------------------------------------


def change_list(*, since: dt.datetime | None = None) -> QuerySet:
    """Public acts (published, corrected, withdrawn) after ``since``, oldest first.

    Rows of the publication log the editorial workflow writes; what a record
    looked like before or after is in its history tables.
    """
    from timeline.models import Publication

    qs = Publication.objects.select_related("content_type").order_by("at", "id")
    return qs if since is None else qs.filter(at__gt=since)
