"""Template helpers of the public site."""

import json

from django import template
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
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


@register.simple_tag
def site_name():
    return settings.SITE_NAME


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
