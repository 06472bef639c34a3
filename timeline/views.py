"""Public pages: server-rendered, readable without JavaScript.

Every page reads through ``timeline.selectors`` (the API does too) and runs
a fixed number of SQL queries whatever the number of rows.
"""

import datetime as dt
import functools
import itertools
import math

import orjson
from django.conf import settings
from django.contrib.syndication.views import Feed
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.http import Http404, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from timeline import asof, dates, implementation, links, selectors, workflow
from timeline.forms import TimelineFilterForm
from timeline.models import District, Event, Handover, Publication, PublicationStatus, party_public_name

PAGE_SIZE = 50
# The visual timeline draws at most this many entries; the page says so when it cuts.
VISUAL_LIMIT = 2000
# Entries are counted up to this many (200 pages); beyond, the page says "more than".
COUNT_LIMIT = 10_000

# --------------------------------------------------------------------------
# The record as of a day
# --------------------------------------------------------------------------


def _as_of(request) -> tuple[asof.AsOfForm, dt.date | None, int]:
    """The ``?as_of=`` control of a page, the day it names (None: today) and the status to answer.

    A malformed day is a 400 whose page shows today's record with the error beside the field.
    """
    form = asof.from_request(request)
    day = form.day
    return form, day, 400 if form.errors else 200


def _as_of_context(form, day) -> dict:
    return {"as_of_form": form, "as_of": day, "as_of_query": f"?as_of={day.isoformat()}" if day else ""}


# --------------------------------------------------------------------------
# The timeline
# --------------------------------------------------------------------------


def _page_number(raw: str | None, num_pages: int) -> tuple[int, str]:
    """The page to show and, when the requested one does not exist, why another is shown."""
    if raw in (None, ""):
        return 1, ""
    if not raw.isdigit():
        return 1, f"“{raw[:40]}” is not a page number; showing page 1."
    number = int(raw)
    if number < 1:
        return 1, "Pages start at 1; showing page 1."
    if number > num_pages:
        return num_pages, f"There is no page {number}; showing the last page, {num_pages}."
    return number, ""


def _group_by_month(events) -> list[dict]:
    """[{year, months: [{label, events}]}] in the order given; entries dated only to
    the year are grouped under 'Dated to the year'."""

    def month_key(event):
        if event.date_precision == dates.YEAR:
            return None
        return event.date.month

    groups = []
    for year, in_year in itertools.groupby(events, key=lambda e: e.date.year):
        months = []
        for month, in_month in itertools.groupby(in_year, key=month_key):
            label = f"Dated to the year {year}" if month is None else dates.format_date(dt.date(year, month, 1), "month")
            months.append({"label": label, "events": list(in_month)})
        groups.append({"year": year, "months": months})
    return groups


# The label of a date or span, remembered: a visual timeline labels up to 2,000 entries a request,
# mostly with dates seen before (a pure function of its arguments).
_span_label = functools.lru_cache(maxsize=16384)(dates.format_span)


# What the visual timeline reads of an entry beyond what the entry shows (selectors.entry_rows).
VISUAL_COLUMNS = ("span_end", "claimed_by__name", "claimed_by__publication_status")


def _visual_items(rows) -> list[dict]:
    """The entries of the visual timeline: ranges for spans (an end date), points for the rest.

    ``rows`` are ``selectors.entry_rows(queryset, *VISUAL_COLUMNS)``. A month or a
    year drawn as a range would be a sliver or a box too narrow for its title,
    so an entry without an end date is a point at its first day; its label
    says its real precision.
    """
    items = []
    event_path = links.slug_paths("timeline:event-detail")
    for row in rows:
        date, end_date, claimed_by = row.date, row.end_date, row.claimed_by__name
        if claimed_by is not None:
            claimed_by = party_public_name(claimed_by, row.claimed_by__publication_status)
        item = {
            "id": row.pk,
            "start": date.isoformat(),
            "type": "point" if end_date is None else "range",
            "title": row.title,
            "date": _span_label(date, row.date_precision, end_date, row.end_date_precision or None),
            "kind": row.kind,
            "url": event_path(row.slug),
            "claimedBy": claimed_by or "",
        }
        if end_date is not None:
            item["end"] = (row.span_end + dt.timedelta(days=1)).isoformat()
        items.append(item)
    return items


def _timeline_query(request):
    """What ``/`` and its visual data read from the request: (filter form, its filters, ?as_of= form,
    the day it names, the status to answer, the published entries matching, in page order)."""
    form = TimelineFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()
        filters = form.filters()
    else:
        filters = {}
    as_of_form, day, as_of_status = _as_of(request)
    queryset = asof.events(selectors.event_filter(selectors.event_entries(), **filters), day)
    if form.is_bound and form.newest_first:
        queryset = queryset.order_by("-date", "-id")
    # Bad filter values: the page still shows, with the valid filters applied and
    # each error beside its field, but the status tells clients the request was wrong.
    status = 400 if form.is_bound and form.errors else as_of_status
    return form, filters, as_of_form, day, status, queryset


@require_safe
def home(request):
    form, filters, as_of_form, day, status, queryset = _timeline_query(request)
    # The count stops at COUNT_LIMIT (200 pages): counting every one of a million entries
    # took 40 ms a request, and an OFFSET that deep more than a second.
    count = queryset.order_by()[: COUNT_LIMIT + 1].count()
    count_capped = count > COUNT_LIMIT
    paginator = Paginator(selectors.entry_rows(queryset), PAGE_SIZE)
    paginator.count = min(count, COUNT_LIMIT)
    number, page_message = _page_number(request.GET.get("page"), paginator.num_pages)
    if count_capped and page_message and number == paginator.num_pages:
        page_message = (
            f"Pages stop at {paginator.num_pages}: more than {COUNT_LIMIT:,} entries match. Narrow the filters "
            "(a district, a date range) or show the newest first to reach the others."
        )
    page = paginator.page(number)
    events = selectors.timeline_entries(page.object_list)
    context = {
        "form": form,
        "filtered": any(bool(v) for v in filters.values()),
        "page": page,
        "page_message": page_message,
        "page_range": list(paginator.get_elided_page_range(number, on_each_side=2, on_ends=1)),
        "ellipsis": Paginator.ELLIPSIS,
        "count_capped": count_capped,
        "count_limit": f"{COUNT_LIMIT:,}",
        "groups": _group_by_month(events),
        # The visual timeline's data is its own request (timeline_visual, the page's parameters but the
        # page number): the list is readable before it arrives, and every page shares its cached answer.
        "visual": status == 200 and bool(events),
        "visual_cut": count > VISUAL_LIMIT,
        "visual_limit": VISUAL_LIMIT,
        **_as_of_context(as_of_form, day),
    }
    return render(request, "timeline/home.html", context, status=status)


@require_safe
def timeline_visual(request):
    """The visual timeline's entries for the filters of ``/`` (the same parameters), as JSON:
    ``{"items": [...], "cut": true when more than "limit" entries match, "limit"}``, in
    timeline order. Bad parameters are a 400 naming each field's errors, as on the page."""
    form, _, as_of_form, _, status, queryset = _timeline_query(request)
    if status != 200:
        errors = {
            each.add_prefix(field) if field != "__all__" else field: [error["message"] for error in found]
            for each in (form, as_of_form) for field, found in each.errors.get_json_data().items()
        }
        return JsonResponse({"errors": errors}, status=400)
    # Fetched in no order first: most filters match fewer than VISUAL_LIMIT entries, and
    # sorting them here costs less than asking the database to.
    rows = list(selectors.entry_rows(queryset.order_by(), *VISUAL_COLUMNS)[: VISUAL_LIMIT + 1])
    cut = len(rows) > VISUAL_LIMIT
    if cut:  # the first VISUAL_LIMIT in the page's order, as the page says
        rows = list(selectors.entry_rows(queryset, *VISUAL_COLUMNS)[:VISUAL_LIMIT])
    rows.sort(key=lambda row: (row.date, row.pk))
    # orjson: several times faster than json on 2,000 items, and UTF-8 rather than \u escapes.
    body = orjson.dumps({"items": _visual_items(rows), "cut": cut, "limit": VISUAL_LIMIT})
    return HttpResponse(body, content_type="application/json")


@require_safe
def event_detail(request, slug):
    try:
        event = selectors.event_public_get(slug=slug)
    except Event.DoesNotExist:
        raise Http404("No published entry has this address.") from None
    if event.publication_status == PublicationStatus.WITHDRAWN:
        withdrawal = workflow.latest_act(event, Publication.Action.WITHDRAWN)
        return render(request, "timeline/event_withdrawn.html", {"event": event, "withdrawal": withdrawal}, status=410)
    return render(request, "timeline/event_detail.html", {
        "event": event, "json_ld": _event_json_ld(request, event), "corrections": workflow.corrections_of(event),
    })


def _event_json_ld(request, event: Event) -> dict:
    data = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": event.title,
        "description": event.summary,
        "startDate": event.date_iso,
        "url": request.build_absolute_uri(event.get_absolute_url()),
        "eventStatus": "https://schema.org/EventScheduled",
    }
    if event.end_date:
        data["endDate"] = dates.iso_for_precision(event.end_date, event.end_date_precision or event.date_precision)
    places = []
    for district in event.districts.all():
        places.append({"@type": "Place", "name": district.name, "url": request.build_absolute_uri(district.get_absolute_url())})
    if places:
        data["location"] = places
    claimant = event.public_claimant
    if claimant:
        data["organizer"] = {"@type": "Organization", "name": claimant.name}
    return data


# --------------------------------------------------------------------------
# Districts and the map
# --------------------------------------------------------------------------

STATUS_ORDER = [
    Handover.Status.COMPLETED,
    Handover.Status.POSTPONED,
    Handover.Status.SCHEDULED,
    Handover.Status.CANCELLED,
    "none",
]
STATUS_LABELS = {
    Handover.Status.COMPLETED: "Handed over",
    Handover.Status.POSTPONED: "Handover postponed",
    Handover.Status.SCHEDULED: "Handover scheduled",
    Handover.Status.CANCELLED: "Handover cancelled",
    "none": "No handover recorded",
}

# Small enough that labels stay readable when a phone scales the map down to ~330 px.
MAP_WIDTH = 480
MAP_PADDING = 36


def _geometry_rings(boundary) -> list[list]:
    """The outer and inner rings of a GeoJSON Polygon or MultiPolygon, ignoring anything malformed."""
    if not isinstance(boundary, dict):
        return []
    coordinates = boundary.get("coordinates")
    if not isinstance(coordinates, list):
        return []
    polygons = coordinates if boundary.get("type") == "MultiPolygon" else [coordinates]
    rings = []
    for polygon in polygons:
        for ring in polygon if isinstance(polygon, list) else []:
            points = [
                (float(p[0]), float(p[1]))
                for p in ring
                if isinstance(p, list | tuple) and len(p) >= 2 and all(isinstance(v, int | float) for v in p[:2])
            ]
            if len(points) >= 3:
                rings.append(points)
    return rings


def _district_map(districts, status_of: dict, controller_of: dict | None = None) -> dict | None:
    """An SVG map of the districts: an equirectangular projection of their bounding box,
    scaled so a degree of longitude is as long as it is at the box's middle latitude."""
    located = [d for d in districts if d.latitude is not None and d.longitude is not None]
    rings_of = {d.pk: _geometry_rings(d.boundary) for d in districts}
    lons = [float(d.longitude) for d in located] + [x for rings in rings_of.values() for r in rings for x, _ in r]
    lats = [float(d.latitude) for d in located] + [y for rings in rings_of.values() for r in rings for _, y in r]
    if not lons:
        return None
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    x_scale = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * x_scale, 0.05)
    span_y = max(north - south, 0.05)
    inner = MAP_WIDTH - 2 * MAP_PADDING
    scale = inner / max(span_x, span_y)
    height = round(span_y * scale + 2 * MAP_PADDING)

    def project(lon, lat):
        return (
            round(MAP_PADDING + (lon - west) * x_scale * scale + (inner - span_x * scale) / 2, 1),
            round(MAP_PADDING + (north - lat) * scale, 1),
        )

    controller_of = controller_of or {}
    shapes, points, placed = [], [], []
    for district in districts:
        status = status_of.get(district.pk, "none")
        for ring in rings_of[district.pk]:
            path = "M" + " L".join(f"{x},{y}" for x, y in (project(lon, lat) for lon, lat in ring)) + " Z"
            shapes.append({"district": district, "path": path, "status": status,
                           "controller": controller_of.get(district.pk)})
    for district in sorted(located, key=lambda d: (-float(d.latitude), float(d.longitude))):
        x, y = project(float(district.longitude), float(district.latitude))
        label_x, label_y, anchor = _place_label(x, y, district.name, placed)
        points.append(
            {
                "district": district,
                "x": x,
                "y": y,
                "label_x": label_x,
                "label_y": label_y,
                "anchor": anchor,
                "status": status_of.get(district.pk, "none"),
                "status_label": STATUS_LABELS[status_of.get(district.pk, "none")],
                "controller": controller_of.get(district.pk),
            }
        )
    return {"width": MAP_WIDTH, "height": height, "shapes": shapes, "points": points}


def _place_label(x: float, y: float, text: str, placed: list) -> tuple[float, float, str]:
    """Put a label beside its point where it overlaps no label placed before (greedy)."""
    width, height = 9 * len(text) + 4, 18
    candidates = [(x + 11, y + 5, "start"), (x - 11, y + 5, "end")]
    candidates += [(x + 11, y + 5 + dy, "start") for dy in (18, -18, 36, -36, 54, -54)]
    for cx, cy, anchor in candidates:
        left = cx if anchor == "start" else cx - width
        box = (left, cy - height + 4, left + width, cy + 4)
        if left < 2 or left + width > MAP_WIDTH - 2:
            continue
        if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            placed.append(box)
            return cx, cy, anchor
    cx, cy, anchor = candidates[0] if x < MAP_WIDTH * 0.6 else candidates[1]
    return cx, cy, anchor


def _latest_handover_status(handovers) -> dict:
    """Each district's status from its latest handover (by original deadline, then completion),
    as of the day each handover's ``state`` was computed for."""
    latest = {}
    for handover in handovers:
        key = (handover.original_due_on or handover.completed_on or dt.date.min, handover.pk)
        if handover.district_id not in latest or key > latest[handover.district_id][0]:
            latest[handover.district_id] = (key, handover.state.status)
    return {district_id: status for district_id, (_, status) in latest.items()}


def _handovers_as_of(queryset, day: dt.date | None) -> list:
    """The handovers that existed at the end of ``day``, each with its ``state`` then."""
    handovers = list(asof.handovers(queryset, day))
    for handover in handovers:
        handover.state = asof.handover_state(handover, day)
    return handovers


def party_colour(party) -> str:
    return party.colour or _fallback_colour(party.pk)


@require_safe
def district_list(request):
    as_of_form, day, status_code = _as_of(request)
    districts = list(selectors.district_list())
    handovers = _handovers_as_of(selectors.handover_list(), day)
    status_of = _latest_handover_status(handovers)
    histories = selectors.control_histories([d.pk for d in districts], as_of=day)
    rows, controller_of, held_by = [], {}, {}
    for district in districts:
        status = status_of.get(district.pk, "none")
        controller = selectors.controller_on(histories[district.pk], day)
        if controller is not None:
            controller_of[district.pk] = {"party": controller, "colour": party_colour(controller)}
            held_by.setdefault(controller.pk, controller)
        rows.append(
            {
                "district": district,
                "status": status,
                "status_label": STATUS_LABELS[status],
                "controller": controller,
                "colour": party_colour(controller) if controller is not None else "",
            }
        )
    used = {row["status"] for row in rows}
    legend = [{"status": s, "label": STATUS_LABELS[s]} for s in STATUS_ORDER if s in used]
    control_legend = [
        {"party": party, "colour": party_colour(party)} for party in sorted(held_by.values(), key=lambda p: p.name)
    ]
    context = {
        "rows": rows,
        "map": _district_map(districts, status_of, controller_of),
        "legend": legend,
        "control_legend": control_legend,
        "any_uncontrolled": len(controller_of) < len(districts),
        **_as_of_context(as_of_form, day),
    }
    return render(request, "timeline/district_list.html", context, status=status_code)


def _control_bar(history, today: dt.date) -> list[dict]:
    """Segments of the control bar, as percentages of the time from the first change to today."""
    if not history:
        return []
    start = history[0].since
    end = max(today, history[-1].since + dt.timedelta(days=1))
    total = (end - start).days or 1
    segments = []
    for n, period in enumerate(history):
        until = period.until or end
        left = 100 * (period.since - start).days / total
        width = max(100 * (until - period.since).days / total, 0.5)
        width = min(width, 100 - left)
        # Labels of segments in the right half end at the segment's end, so they stay inside the bar.
        right_half = left > 50
        segments.append(
            {
                "period": period,
                "x": round(left, 3),
                "width": round(width, 3),
                "label_x": round(left + width if right_half else left, 3),
                "anchor": "end" if right_half else "start",
                "colour": period.party.colour or _fallback_colour(period.party.pk),
                "row": n % 2,
            }
        )
    return segments


# A neutral palette for parties without a colour of their own (colour-blind safe).
_PALETTE = ["#4477aa", "#cc6677", "#228833", "#aa7733", "#66ccee", "#aa3377", "#777777"]


def _fallback_colour(pk: int) -> str:
    return _PALETTE[pk % len(_PALETTE)]


@require_safe
def district_detail(request, slug):
    as_of_form, day, status_code = _as_of(request)
    district = selectors.district_list().filter(slug=slug).first()
    if district is None:
        raise Http404("No published district has this address.")
    history = selectors.district_control_history(district, as_of=day)
    context = {
        "district": district,
        "history": history,
        "bar": _control_bar(history, day or dt.date.today()),
        "handovers": _handovers_as_of(selectors.handover_list().filter(district=district), day),
        "events": selectors.timeline_entries(selectors.entry_rows(asof.events(selectors.district_events(district), day))),
        "discrepancies": list(district.discrepancies.prefetch_related("sources")),
        "corrections": workflow.corrections_of(district),
        **_as_of_context(as_of_form, day),
    }
    return render(request, "timeline/district_detail.html", context, status=status_code)


# --------------------------------------------------------------------------
# Agreements and handovers
# --------------------------------------------------------------------------


@require_safe
def agreement_list(request):
    as_of_form, day, status_code = _as_of(request)
    agreements = list(asof.agreements(selectors.agreement_list(), day))
    context = {"agreements": agreements, **_as_of_context(as_of_form, day)}
    return render(request, "timeline/agreement_list.html", context, status=status_code)


@require_safe
def agreement_detail(request, slug):
    as_of_form, day, status_code = _as_of(request)
    agreement = selectors.agreement_list(with_provision_states=True).filter(slug=slug).first()
    if agreement is None:
        raise Http404("No published agreement has this address.")
    if day is not None and agreement.signed_on > day:
        raise Http404(f"This agreement was not yet signed on {dates.format_date(day, dates.DAY)}.")
    as_of_day = day or implementation.today()
    deadlines = list(agreement.deadlines.all())
    for deadline in deadlines:
        deadline.state = implementation.deadline_state(deadline, as_of_day)
    states = [implementation.provision_state(p, as_of_day) for p in agreement.provisions.all()]
    context = {
        "agreement": agreement,
        "deadlines": deadlines,
        "provisions": states,
        "implementation": implementation.summarise(states),
        "corrections": workflow.corrections_of(agreement),
        **_as_of_context(as_of_form, day),
    }
    return render(request, "timeline/agreement_detail.html", context, status=status_code)


HANDOVER_PAGE_SIZE = 50


@require_safe
def handover_list(request):
    """The tracker, 50 handovers a page in deadline order; ``?district=`` keeps one district's
    (an unknown one is left out with a message and a 400, as the timeline's filters are).

    The summary counts every page's handovers (one aggregate query), so it
    reads the same on each page.
    """
    as_of_form, day, status_code = _as_of(request)
    queryset = asof.handovers(selectors.handover_list(), day)
    district, district_error = None, ""
    if slug := request.GET.get("district", ""):
        district = District.objects.published().filter(slug=slug[:120]).only("pk", "slug", "name").first()
        if district is None:
            # Like a bad filter of the timeline: left out, said beside the list, and a 400.
            district_error = f"No published district has the address “{slug[:40]}”; showing every handover."
            status_code = 400
        else:
            queryset = queryset.filter(district=district)
    counts = selectors.handover_status_counts(queryset, day or implementation.today())
    paginator = Paginator(queryset, HANDOVER_PAGE_SIZE)
    paginator.count = sum(counts.values())  # the summary counted them already: no COUNT query
    number, page_message = _page_number(request.GET.get("page"), paginator.num_pages)
    page = paginator.page(number)
    handovers = list(page.object_list)
    for handover in handovers:
        handover.state = asof.handover_state(handover, day)
    summary = [(Handover.Status(s).label, counts[s]) for s in Handover.Status.values if counts[s]]
    context = {
        "handovers": handovers,
        "page": page,
        "page_message": page_message,
        "district": district,
        "district_error": district_error,
        "summary": summary,
        "caption": "Handovers, by original deadline"
        + (f", page {page.number} of {paginator.num_pages}" if paginator.num_pages > 1 else ""),
        **_as_of_context(as_of_form, day),
    }
    return render(request, "timeline/handover_list.html", context, status=status_code)


# --------------------------------------------------------------------------
# Machines: monitors, crawlers; and the error pages
# --------------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request):
    """200 while the database answers, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


@require_safe
def robots_txt(request):
    sitemap = request.build_absolute_uri(reverse("timeline:sitemap"))
    # The admin's path is configurable so that it is not advertised: not named here either.
    lines = ["User-agent: *", "Disallow:", "", f"Sitemap: {sitemap}", ""]
    return HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")


def page_not_found(request, exception):
    return render(request, "404.html", {"request_path": request.path}, status=404)


def server_error(request):
    """Rendered without the request's context: whatever failed may fail again."""
    template = loader.get_template("500.html")
    return HttpResponseServerError(template.render({}))



# --------------------------------------------------------------------------
# Dataset releases and the feed of changes
# --------------------------------------------------------------------------


@require_safe
def release_list(request):
    from timeline.management.commands.release_dataset import release_list as releases

    return render(request, "timeline/release_list.html", {"releases": releases()})


@require_safe
def release_download(request, version):
    """The release file, byte-identical every time, with its checksum as a strong ETag."""
    from timeline.management.commands.release_dataset import release_meta

    meta = release_meta(version)
    path = settings.RELEASES_DIR / f"{version}.json"
    if meta is None or not path.is_file():
        raise Http404("No dataset release has this version.")
    etag = f'"{meta["sha256"]}"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(path.read_bytes(), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="conflict-timeline-{version}.json"'
    response["ETag"] = etag
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


class ChangesFeed(Feed):
    """Every public act (published, corrected, withdrawn), newest first, as Atom."""

    feed_type = Atom1Feed
    title = "Changes to the record"
    subtitle = "Every entry published, corrected or withdrawn, with its public note."

    def link(self):
        return reverse("timeline:home")

    def items(self):
        return selectors.change_list().order_by("-at", "-id")[:100]

    def item_title(self, item):
        return f"{item.get_action_display().capitalize()}: {item.title}"

    def item_description(self, item):
        return item.note or f"{item.content_type.model.capitalize()} {item.get_action_display()}."

    def item_link(self, item):
        if item.content_type.model == "event" and item.slug:
            return reverse("timeline:event-detail", args=[item.slug])
        if item.content_type.model == "agreement" and item.slug:
            return reverse("timeline:agreement-detail", args=[item.slug])
        if item.content_type.model == "district" and item.slug:
            return reverse("timeline:district-detail", args=[item.slug])
        return f"{reverse('timeline:home')}#change-{item.pk}"

    def item_guid(self, item):
        return f"change-{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.at

    def item_updateddate(self, item):
        return item.at
