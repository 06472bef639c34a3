"""Feeds readers subscribe to: new timeline entries (Atom) and agreement deadlines (iCalendar)."""

import datetime as dt

import icalendar
from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.views.decorators.http import require_safe

from timeline import dates, implementation, selectors

FEED_SIZE = 50


class EventsFeed(Feed):
    """Published entries, the most recently published first."""

    feed_type = Atom1Feed
    description_template = None

    def title(self):
        return f"{settings.SITE_NAME}: new entries"

    def subtitle(self):
        return "Entries of the timeline as they are published, newest first."

    def link(self):
        return reverse("timeline:home")

    def feed_url(self):
        return reverse("timeline:feed-events")

    def items(self):
        return selectors.event_list().order_by("-published_at", "-id")[:FEED_SIZE]

    def item_title(self, item):
        return f"{item.date_display}: {item.title}"

    def item_description(self, item):
        # Atom sends the description as type="html", which readers render: escape the plain text.
        if item.is_claim:
            return escape(f"Claim by {item.claimant_name}: {item.summary}")
        return escape(item.summary)

    def item_link(self, item):
        return item.get_absolute_url()

    def item_guid(self, item):
        return f"event-{item.pk}"

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.updated_at

    def item_categories(self, item):
        return [item.get_kind_display(), *(d.name for d in item.districts.all())]


def _deadline_description(deadline, state) -> str:
    lines = [f"Obligation: {deadline.obligation}", f"Agreement: {deadline.agreement.title}"]
    lines.append(f"Original date: {dates.format_date(deadline.original_due_on, dates.DAY)}")
    for postponement in deadline.postponements.all():
        line = (
            f"Postponement {postponement.sequence}: {dates.format_date(postponement.from_date, dates.DAY)} "
            f"to {dates.format_date(postponement.to_date, dates.DAY)}"
        )
        if postponement.requested_by:
            line += f", requested by {postponement.requested_by.public_name}"
        agreed = [p.public_name for p in postponement.agreed_by.all()]
        if agreed:
            line += f", agreed by {', '.join(agreed)}"
        if postponement.reason:
            line += f". Reason: {postponement.reason}"
        lines.append(line)
    if not deadline.is_postponed:
        lines.append("Not postponed.")
    if state.status == "completed":
        lines.append(f"Completed on {dates.format_date(state.completed_on, dates.DAY)}.")
    elif state.status == "cancelled":
        lines.append("Cancelled.")
    return "\n".join(lines)


@require_safe
def deadlines_ics(request):
    """Every deadline of a published agreement, one all-day event per deadline.

    The UID is stable and SEQUENCE is the number of postponements, so when a
    deadline moves, subscribed calendars move the same event.
    """
    host = request.get_host().split(":")[0]
    calendar = icalendar.Calendar()
    calendar.add("prodid", f"-//{settings.SITE_NAME}//Deadlines//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{settings.SITE_NAME}: deadlines")
    today = timezone.localdate()
    for deadline in selectors.deadline_list():
        state = implementation.deadline_state(deadline, today)
        vevent = icalendar.Event()
        vevent.add("uid", f"deadline-{deadline.pk}@{host}")
        vevent.add("summary", f"Deadline: {deadline.obligation}")
        vevent.add("dtstart", deadline.due_on)
        vevent.add("dtend", deadline.due_on + dt.timedelta(days=1))
        vevent.add("dtstamp", deadline.updated_at)
        vevent.add("last-modified", deadline.updated_at)
        vevent.add("sequence", len(deadline.postponements.all()))
        vevent.add("description", _deadline_description(deadline, state))
        vevent.add("url", request.build_absolute_uri(deadline.agreement.get_absolute_url()))
        vevent.add("transp", "TRANSPARENT")
        calendar.add_component(vevent)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="deadlines.ics"'
    return response
