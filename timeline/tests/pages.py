"""Helpers shared by the page tests."""

import re

from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from timeline.cache import CACHE_ALIAS


def queries_for(client, url: str) -> int:
    """How many SQL queries one GET of ``url`` runs (after a warm-up request).

    The view's own: the anonymous response cache (timeline.cache) is emptied
    after the warm-up, so the count is the view's queries plus the clock's one.
    """
    client.get(url)
    caches[CACHE_ALIAS].clear()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return len(ctx.captured_queries)


def main_text(response) -> str:
    """The text of <main>, scripts and tags removed and spaces collapsed, for content assertions."""
    html = response.content.decode()
    return text_of(html[html.index("<main") : html.index("</main>")])


def text_of(html: str) -> str:
    html = re.sub(r"<script[^>]*>.*?</script>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    text = " ".join(text.split())
    return re.sub(r" ([,.;:])", r"\1", text)  # "2020 , requested" was "2020</time>, requested"


def inline_script_code(response) -> list[str]:
    """Bodies of <script> elements that hold code (not JSON data, not src=)."""
    html = response.content.decode()
    found = []
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        if "src=" in attrs or "application/json" in attrs or "application/ld+json" in attrs:
            continue
        if body.strip():
            found.append(body)
    return found
