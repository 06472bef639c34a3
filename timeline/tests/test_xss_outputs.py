"""Stored XSS: hostile text in every field an editor fills is inert in every output.

The demo dataset is imported with each free-text value replaced by a formula and a script
payload (``hostile_dataset``), so every title, summary, name, alias, source field, passage,
locator, note, reason and discrepancy passes through the real import path, then every output
is read: pages, JSON-LD, Atom, iCalendar, CSV, GeoJSON, the API JSON and the admin.
"""

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import icalendar
import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from timeline import models

DEMO = Path(settings.BASE_DIR) / "data" / "nagorno-karabakh-2020.json"

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(1)</script>",
    "'><svg onload=alert(1)>",
]
FORMULAS = ['=HYPERLINK("http://evil.example/","x")', "=1+1", "@SUM(A1:A9)", "+1-1", "-2+3"]
# The keys of the dataset format that hold text an editor types (slugs, kinds, dates,
# colours, languages and references to other records are validated elsewhere).
FREE_TEXT = {
    "title", "short_title", "summary", "body", "name", "short_name", "description", "aspect", "locator",
    "passage", "note", "reason", "obligation", "person_name", "role", "signed_at_place", "author",
    "publisher", "text",
}
# Where a reference names a record by its name rather than its slug, it must follow the rename.
CRLF_INJECTION = "\r\nURL:javascript:alert(1)\r\nATTACH:http://evil.example/"
ALERT = "alert(1)"


def poison(value: str, n: int, limit: int) -> str:
    """The formula first (CSV sees it), then a script payload, then the original words."""
    formula = FORMULAS[n % len(FORMULAS)]
    payload = XSS[n % len(XSS)]
    return f"{formula} {payload} {value}"[:limit] if limit else f"{formula} {payload} {value}"


def hostile_dataset(path: Path) -> int:
    """Write the demo dataset with every free-text value poisoned; returns how many were."""
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    counter = 0

    def walk(node):
        nonlocal counter
        if isinstance(node, dict):
            for key, value in node.items():
                if key in FREE_TEXT and isinstance(value, str) and value:
                    counter += 1
                    limit = {"locator": 120, "aspect": 120, "role": 80, "short_name": 80, "short_title": 120}.get(key, 0)
                    node[key] = poison(value, counter, limit)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    originals = {d["obligation"]: d for a in data["agreements"] for d in a.get("deadlines", [])}
    walk(data)
    # A line break in a calendar field must not start a property of its own.
    deadline = next(a["deadlines"][0] for a in data["agreements"] if a.get("deadlines"))
    deadline["obligation"] += CRLF_INJECTION
    # Handovers name their deadline by its obligation: follow the rename.
    for handover in data["handovers"]:
        if handover.get("deadline") in originals:
            handover["deadline"] = originals[handover["deadline"]]["obligation"]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return counter


@pytest.fixture
def hostile_site(db, tmp_path):
    poisoned = hostile_dataset(tmp_path / "hostile.json")
    assert poisoned > 100
    call_command("import_timeline", str(tmp_path / "hostile.json"), verbosity=0)
    assert models.Event.objects.filter(title__contains="<script>").exists()
    return poisoned


class PageAudit(HTMLParser):
    """What a browser would run: script elements, event handlers, javascript: URLs."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.data_blocks: list[tuple[str, str]] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction", "xlink:href") and value and \
                    re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith(("javascript:", "vbscript:", "data:text")):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and attrs.get("src") == "x":
            self.problems.append("<img src=x>")
        if tag == "svg" and "onload" in attrs:
            self.problems.append("<svg onload>")
        if tag == "script":
            kind = attrs.get("type", "")
            if kind in ("application/json", "application/ld+json"):
                self._in_script = kind
            elif re.match(r"/[^/\\]", attrs.get("src") or ""):  # a file of this site
                self._in_script = "src"
            else:
                self.problems.append(f"<script {attrs}>")
                self._in_script = "inline"

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script in ("application/json", "application/ld+json"):
            self.data_blocks.append((self._in_script, data))
        elif self._in_script == "inline":
            self.problems.append(f"inline script: {data[:80]!r}")
        else:
            self.text.append(data)


def audit(html: str) -> PageAudit:
    page = PageAudit()
    page.feed(html)
    page.close()
    return page


def assert_inert_page(response) -> PageAudit:
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    page = audit(html)
    assert page.problems == []
    for _kind, block in page.data_blocks:
        assert "</script" not in block.lower() and "<!--" not in block
        json.loads(block)  # still whole data, not broken out of
    return page


def public_pages() -> list[str]:
    urls = ["/", "/districts/", "/agreements/", "/handovers/"]
    urls += [e.get_absolute_url() for e in models.Event.objects.published()]
    urls += [d.get_absolute_url() for d in models.District.objects.published()]
    urls += [a.get_absolute_url() for a in models.Agreement.objects.published()]
    return urls


def test_every_public_page_shows_the_hostile_text_as_text(client, hostile_site):
    shown = 0
    for url in public_pages():
        page = assert_inert_page(client.get(url))
        text = "".join(page.text)
        shown += sum(text.count(payload) for payload in XSS)

    # The payloads are on the pages, as words a reader can see, and nothing ran.
    assert shown > 100


def test_json_ld_blocks_carry_the_hostile_text_without_breaking_out(client, hostile_site):
    found = []
    for url in public_pages():
        page = assert_inert_page(client.get(url))
        found += [json.loads(block) for kind, block in page.data_blocks if kind == "application/ld+json"]

    assert found, "the record pages publish schema.org JSON-LD"
    names = json.dumps(found, ensure_ascii=False)
    assert "</script><script>alert(1)</script>" in names or "<script>alert(1)</script>" in names


def test_search_and_filter_values_are_reflected_inert(client, hostile_site):
    hostile = XSS[1] + XSS[2]
    for url in ["/", "/districts/", "/agreements/", "/handovers/"]:
        for param in ("q", "district", "party", "kind", "agreement", "from", "to", "as_of", "order"):
            response = client.get(url, {param: hostile})
            assert response.status_code in (200, 400), (url, param, response.status_code)
            assert audit(response.content.decode()).problems == [], (url, param)


def test_the_atom_feed_delivers_hostile_text_as_text(client, hostile_site):
    response = client.get(reverse("timeline:feed-events"))

    root = ET.fromstring(response.content)  # noqa: S314 - our own feed
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    assert entries
    for entry in entries:
        title = entry.find("a:title", ns)
        assert title.get("type", "text") == "text"
        summary = entry.find("a:summary", ns)
        if summary is not None and summary.get("type") == "html":
            # A reader renders type="html" as HTML: what it renders must contain no markup of ours.
            assert audit(summary.text or "").problems == []
            assert "<script" not in (summary.text or "").lower()
            assert "<img" not in (summary.text or "").lower()
    assert any("<script>alert(1)</script>" in (e.find("a:title", ns).text or "") for e in entries) or any(
        "&lt;script&gt;" in (e.find("a:summary", ns).text or "") for e in entries
    )


def test_the_calendar_keeps_hostile_text_inside_its_fields(client, hostile_site):
    response = client.get(reverse("timeline:feed-deadlines"))

    calendar = icalendar.Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert events
    for event in events:
        assert set(event) <= {"UID", "SUMMARY", "DTSTART", "DTEND", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE",
                              "DESCRIPTION", "URL", "TRANSP"}
        assert str(event["URL"]).startswith("http://testserver/agreements/")
        assert "ATTACH" not in event
    text = response.content.decode()
    assert not re.search(r"^URL:javascript", text, re.MULTILINE | re.IGNORECASE)
    obligations = {str(e["SUMMARY"]) for e in events}
    # The line breaks are kept as text inside SUMMARY (iCalendar writes them as \n).
    assert any(o.endswith(CRLF_INJECTION.replace("\r\n", "\n")) for o in obligations)


API_LISTS = ["events", "districts", "parties", "sources", "agreements", "deadlines", "handovers"]


def csv_cells(client, resource: str) -> list[str]:
    response = client.get(f"/api/v1/{resource}/", {"format": "csv", "page_size": 100})
    assert response.status_code == 200, (resource, response.status_code)
    assert response["Content-Type"].startswith("text/csv")
    return [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]


def test_no_csv_cell_can_run_as_a_spreadsheet_formula(client, hostile_site):
    neutralised = 0
    for resource in API_LISTS:
        for cell in csv_cells(client, resource):
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (resource, cell[:60])
            assert not (cell.startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", cell)), (resource, cell[:60])
            neutralised += cell.startswith(("'=", "'+", "'-", "'@"))

    assert neutralised > 50


def test_the_api_json_returns_hostile_text_exactly_and_as_json(client, hostile_site):
    for resource in API_LISTS:
        response = client.get(f"/api/v1/{resource}/", HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response["X-Content-Type-Options"] == "nosniff"
    event = models.Event.objects.published().filter(title__contains="<").first()

    body = client.get(f"/api/v1/events/{event.slug}/", HTTP_ACCEPT="application/json").json()

    assert body["title"] == event.title
    assert body["summary"] == event.summary


def test_the_geojson_carries_names_exactly(client, hostile_site):
    response = client.get("/api/v1/districts/", {"format": "geojson"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    names = {f["properties"]["name"] for f in json.loads(response.content)["features"]}
    assert names == set(models.District.objects.published().values_list("name", flat=True))
    assert any("<" in name for name in names)


def test_the_browsable_api_shows_hostile_text_inert(client, hostile_site):
    response = client.get("/api/v1/events/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert audit(response.content.decode()).problems == []


def test_every_admin_list_and_form_shows_hostile_text_inert(client, hostile_site, superuser):
    client.force_login(superuser)
    checked = 0
    for model in apps.get_app_config("timeline").get_models():
        if not hasattr(model, "_meta") or model._meta.model_name.startswith("historical"):
            continue
        try:
            changelist = reverse(f"admin:timeline_{model._meta.model_name}_changelist")
        except Exception:  # noqa: S112 - not every model has its own admin page
            continue
        assert_inert_page(client.get(changelist))
        assert_inert_page(client.get(changelist, {"q": XSS[0]}))
        for obj in model.objects.all()[:3]:
            response = client.get(reverse(f"admin:timeline_{model._meta.model_name}_change", args=[obj.pk]))
            assert_inert_page(response)
            history = client.get(reverse(f"admin:timeline_{model._meta.model_name}_history", args=[obj.pk]))
            assert_inert_page(history)
            checked += 1

    assert checked >= 20
    assert_inert_page(client.get(reverse("admin:index")))
