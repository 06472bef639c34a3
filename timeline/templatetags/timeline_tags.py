"""Template helpers of the public site."""

import html
import json

from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from timeline import dates, links
from timeline.models import Party

register = template.Library()

# The escapes of django.utils.html.json_script, plus the two JavaScript line
# terminators: nothing in the data can close the <script> element it sits in.
_JSON_SCRIPT_ESCAPES = {
    ord(">"): "\\u003E",
    ord("<"): "\\u003C",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


@register.simple_tag
def site_name():
    return settings.SITE_NAME


@register.simple_tag
def district_link(district, query=""):
    """A district a published record names: a link to its page (``query`` appended), or, until it is
    published, ``District.public_name`` without a link (its page does not exist yet)."""
    if district.is_published:
        return format_html('<a href="{}{}">{}</a>', district.get_absolute_url(), query, district.name)
    return capfirst(district.public_name)


@register.filter
def json_ld(value):
    """``value`` as a schema.org JSON-LD block, escaped like ``json_script``."""
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_JSON_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308


@register.filter
def day(value):
    """A date at day precision: '25 November 2020'."""
    if not value:
        return ""
    return dates.format_date(value, dates.DAY)


@register.filter
def days(value):
    """'1 day', '10 days'."""
    if value is None:
        return ""
    value = abs(int(value))
    return f"{value} day" if value == 1 else f"{value} days"


@register.filter
def clock(value):
    """'00:00' in the datetime's own zone (the date filter would convert it to UTC)."""
    if not value:
        return ""
    return f"{value:%H:%M}"


@register.filter
def zone_city(value):
    """'Europe/Moscow' -> 'Moscow', 'America/Argentina/Buenos_Aires' -> 'Buenos Aires'."""
    if not value:
        return ""
    return value.rsplit("/", 1)[-1].replace("_", " ")


def _escape(value) -> str:
    """``conditional_escape(value)`` as plain text: the same characters, without the lazy-string check and
    the ``SafeString`` of every call (a timeline page escapes about a thousand values)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


@register.simple_tag
def timeline_entry(entry, level=3):
    """One entry of the timeline (``templates/timeline/_event.html`` delegates here).

    Written in Python rather than as a template: a page holds 50 of them, and
    through the template engine they were two thirds of the timeline page's
    rendering (about 1,200 variable lookups a page). ``entry`` is a
    ``selectors.TimelineEntry``; ``level`` is its title's heading level.
    """
    esc = _escape
    slug = esc(entry.slug)
    level = esc(level or 3)
    claim = entry.is_claim
    claim_label = f'<p class="claim-label">Claim by {esc(entry.claimant_name)}</p>' if claim else ""
    parts = [
        f'\n<article class="entry{" entry--claim" if claim else ""}" id="event-{slug}" aria-labelledby="title-{slug}">\n'
        f'  <p class="entry__meta">\n'
        f'    <time datetime="{esc(entry.date_iso)}">{esc(entry.date_display)}</time>\n'
        f'    <span class="entry__kind">{esc(entry.kind_display)}</span>\n'
        f"  </p>\n"
        f"  {claim_label}\n"
        f'  <h{level} class="entry__title" id="title-{slug}"><a href="{esc(links.slug_path("timeline:event-detail", entry.slug))}">'
        f"{esc(entry.title)}</a></h{level}>\n"
        f'  <p class="entry__summary">{esc(entry.summary)}</p>\n'
        f"  \n  "
    ]
    districts, parties = entry.districts, entry.parties
    if districts or parties:
        parts.append('\n  <dl class="entry__tags">\n    ')
        if districts:
            path = links.slug_paths("timeline:district-detail")
            links_html = ", ".join(f'<a href="{esc(path(s))}">{esc(name)}</a>' for s, name in districts)
            parts.append(f"<div><dt>Districts</dt><dd>{links_html}</dd></div>")
        parts.append("\n    ")
        if parties:
            links_html = ", ".join(f'<a href="{esc(Party.path_for(s))}">{esc(name)}</a>' for s, name in parties)
            parts.append(f"<div><dt>Parties</dt><dd>{links_html}</dd></div>")
        parts.append("\n  </dl>\n  ")
    parts.append("\n  \n  \n  ")
    if entry.citations:
        parts.append(
            '\n  <div class="entry__sources">\n    <span class="entry__sources-label">Sources:</span>\n'
            '    <ul class="inline-list">\n      '
        )
        for _, title, publisher, url, _, locator in entry.citations:
            title = esc(title)
            cite = f'<a href="{esc(url)}" rel="noopener">{title}</a>' if url else title
            publisher = f" ({esc(publisher)})" if publisher else ""
            locator = f", {esc(locator)}" if locator else ""
            parts.append(f"\n      <li><cite>{cite}</cite>{publisher}{locator}</li>\n      ")
        parts.append("\n    </ul>\n  </div>\n  ")
    parts.append("\n  \n</article>\n")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
