"""Addresses of records without a ``reverse()`` per record.

A list links hundreds of records (the timeline of one district at a million
events draws 1,200 in its visual timeline alone) and ``reverse()`` costs tens
of microseconds each. ``slug_path`` reverses a URL name once (per script
prefix and URLconf, which is all ``reverse()`` depends on here: the site has
no language prefixes) and formats each slug into the path it gave.

A slug with characters outside ``[-a-zA-Z0-9_]`` (which the ``slug`` path
converter refuses, and which ``reverse()`` would have to quote) goes to
``reverse()`` itself, so it behaves exactly as before.
"""

import re

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

_PLAIN_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
_MARKER = "slug-placeholder"
_templates: dict[tuple, tuple[str, str] | None] = {}
_paths: dict[tuple, str] = {}


def is_plain_slug(slug) -> bool:
    """A slug ``slug_path`` formats without ``reverse()``: letters, digits, - and _ only."""
    return isinstance(slug, str) and _PLAIN_SLUG.fullmatch(slug) is not None


def _key(view_name: str) -> tuple:
    return view_name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF


def path(view_name: str) -> str:
    """``reverse(view_name)`` of a URL without arguments, reversed once."""
    key = _key(view_name)
    found = _paths.get(key)
    if found is None:
        found = _paths[key] = reverse(view_name)
    return found


def _template(view_name: str) -> tuple[str, str] | None:
    """(before, after) the slug in the URL's path, or None when it cannot be cut there."""
    key = _key(view_name)
    if key not in _templates:
        parts = reverse(view_name, args=[_MARKER]).split(_MARKER)
        _templates[key] = (parts[0], parts[1]) if len(parts) == 2 else None
    return _templates[key]


def slug_path(view_name: str, slug: str) -> str:
    """``reverse(view_name, args=[slug])``, reversed once per URL name."""
    template = _template(view_name) if is_plain_slug(slug) else None
    if template is None:
        return reverse(view_name, args=[slug])
    return f"{template[0]}{slug}{template[1]}"


def slug_paths(view_name: str):
    """A function slug -> ``slug_path(view_name, slug)`` for a whole list: the prefix is looked up once."""
    template = _template(view_name)
    if template is None:
        return lambda slug: reverse(view_name, args=[slug])
    before, after = template

    def path(slug: str) -> str:
        if is_plain_slug(slug):
            return f"{before}{slug}{after}"
        return reverse(view_name, args=[slug])

    return path
