"""Template helpers of the public site."""

import json

import orjson
from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import conditional_escape, format_html, json_script
from django.utils.safestring import mark_safe

from timeline import dates

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


_JSON_BYTES_ESCAPES = [(chr(code).encode(), escaped.encode()) for code, escaped in _JSON_SCRIPT_ESCAPES.items()]


@register.simple_tag
def site_name():
    return settings.SITE_NAME


@register.filter
def json_ld(value):
    """``value`` as a schema.org JSON-LD block, escaped like ``json_script``."""
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False).translate(_JSON_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308


@register.filter
def json_data(value, element_id):
    """``json_script`` for data of strings, numbers and lists (the visual timeline's 2,000 items), written
    by orjson: compact and in UTF-8 rather than ``\\u`` escapes, several times faster, escaped the same way
    (nothing can close the element). Anything orjson cannot write goes to ``json_script``."""
    try:
        data = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json_script(value, element_id)
    for raw, escaped in _JSON_BYTES_ESCAPES:  # on bytes: str.translate is slow once a string is not ASCII
        data = data.replace(raw, escaped)
    return format_html('<script id="{}" type="application/json">{}</script>', element_id, mark_safe(data.decode()))  # noqa: S308


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


def _listed(event, name: str) -> list:
    """The event's prefetched ``name`` rows: the plain list ``selectors.event_entries`` leaves in
    ``listed_<name>``, else the related manager's (``selectors.event_list``)."""
    listed = getattr(event, f"listed_{name}", None)
    return listed if listed is not None else list(getattr(event, name).all())


@register.simple_tag
def timeline_entry(event, level=3):
    """One entry of the timeline (``templates/timeline/_event.html`` delegates here).

    Written in Python rather than as a template: a page holds 50 of them, and
    through the template engine they were two thirds of the timeline page's
    rendering (about 1,200 variable lookups a page). ``event`` has its
    districts, parties and citations (with their sources) prefetched, as
    ``selectors.event_entries`` or ``selectors.event_list`` give them;
    ``level`` is its title's heading level.
    """
    esc = conditional_escape
    slug = esc(event.slug)
    level = esc(level or 3)
    claim = event.is_claim
    claim_label = f'<p class="claim-label">Claim by {esc(event.claimed_by.name)}</p>' if claim else ""
    parts = [
        f'\n<article class="entry{" entry--claim" if claim else ""}" id="event-{slug}" aria-labelledby="title-{slug}">\n'
        f'  <p class="entry__meta">\n'
        f'    <time datetime="{esc(event.date_iso)}">{esc(event.date_display)}</time>\n'
        f'    <span class="entry__kind">{esc(event.get_kind_display())}</span>\n'
        f"  </p>\n"
        f"  {claim_label}\n"
        f'  <h{level} class="entry__title" id="title-{slug}"><a href="{esc(event.get_absolute_url())}">'
        f"{esc(event.title)}</a></h{level}>\n"
        f'  <p class="entry__summary">{esc(event.summary)}</p>\n'
        f"  \n  "
    ]
    districts = _listed(event, "districts")
    parties = _listed(event, "parties")
    if districts or parties:
        parts.append('\n  <dl class="entry__tags">\n    ')
        if districts:
            links = ", ".join(f'<a href="{esc(d.get_absolute_url())}">{esc(d.name)}</a>' for d in districts)
            parts.append(f"<div><dt>Districts</dt><dd>{links}</dd></div>")
        parts.append("\n    ")
        if parties:
            links = ", ".join(f'<a href="{esc(p.get_absolute_url())}">{esc(p.name)}</a>' for p in parties)
            parts.append(f"<div><dt>Parties</dt><dd>{links}</dd></div>")
        parts.append("\n  </dl>\n  ")
    parts.append("\n  \n  \n  ")
    citations = _listed(event, "citations")
    if citations:
        parts.append(
            '\n  <div class="entry__sources">\n    <span class="entry__sources-label">Sources:</span>\n'
            '    <ul class="inline-list">\n      '
        )
        for citation in citations:
            source = citation.source
            if not source.is_published:
                continue
            title = esc(source.title)
            cite = f'<a href="{esc(source.url)}" rel="noopener">{title}</a>' if source.url else title
            publisher = f" ({esc(source.publisher)})" if source.publisher else ""
            locator = f", {esc(citation.locator)}" if citation.locator else ""
            parts.append(f"\n      <li><cite>{cite}</cite>{publisher}{locator}</li>\n      ")
        parts.append("\n    </ul>\n  </div>\n  ")
    parts.append("\n  \n</article>\n")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
