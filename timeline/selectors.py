"""Read queries shared by the pages, the feeds and the API.

Pages and the API call the same functions, so they cannot disagree about
what is published, what matches a filter, or who controlled a district.
Every list function returns a queryset with its related rows joined or
prefetched: the number of SQL queries does not grow with the rows.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

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
)
from timeline.text import fold

PUBLISHED = PublicationStatus.PUBLISHED

# --------------------------------------------------------------------------
# Districts and names
# --------------------------------------------------------------------------


def district_ids_matching(q: str) -> QuerySet:
    """Ids of districts whose name or any alias contains ``q``, ignoring case and diacritics."""
    key = fold(q)
    if not key:
        return District.objects.none().values("pk")
    alias_hits = DistrictAlias.objects.filter(search_key__contains=key).values("district_id")
    return District.objects.filter(Q(search_key__contains=key) | Q(pk__in=alias_hits)).values("pk")


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


def event_list(*, include_unpublished: bool = False) -> QuerySet:
    """Events in timeline order with everything a list shows, in a fixed number of queries."""
    qs = Event.objects.all() if include_unpublished else Event.objects.published()
    return (
        qs.select_related("claimed_by", "agreement", "handover", "conflict")
        .prefetch_related(
            Prefetch("districts", queryset=District.objects.only("id", "name", "slug").order_by("name")),
            Prefetch("parties", queryset=Party.objects.only("id", "name", "slug", "short_name").order_by("name")),
            citations_prefetch(),
        )
        .order_by("date", "id")
    )


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


def event_text_matches(q: str) -> Q:
    """Title or summary contains ``q``, or the event is about a district known by that name."""
    through_d = Event.districts.through
    about_named_district = Exists(
        through_d.objects.filter(event_id=OuterRef("pk"), district_id__in=district_ids_matching(q))
    )
    return Q(title__icontains=q) | Q(summary__icontains=q) | about_named_district


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
        .prefetch_related(postponements_prefetch("deadline__postponements"), citations_prefetch())
        .order_by("deadline__original_due_on", "district__name", "id")
    )


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
    """Published events about one district, in timeline order."""
    return event_list().filter(districts=district)


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
